"""The audit log in the admin: readable by staff, never editable, stored text escaped."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from backend.maintenance.models import DeletionRecord, ScheduledRun

HOSTILE = '<script>alert("x")</script>'


@pytest.fixture
def admin_client(db) -> Client:
    client = Client()
    client.force_login(User.objects.create_superuser("root", "root@example.com", "pw"))
    return client


def test_deletion_records_are_listed_escaped(admin_client):
    DeletionRecord.objects.create(
        what=f"avatars/1/{HOSTILE}.webp", where="local", why=HOSTILE, source=HOSTILE
    )
    page = admin_client.get(reverse("admin:maintenance_deletionrecord_changelist"))

    assert page.status_code == 200
    body = page.content.decode()
    assert HOSTILE not in body
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in body


@pytest.mark.parametrize("model", [DeletionRecord, ScheduledRun])
def test_maintenance_records_cannot_be_added_changed_or_deleted(admin_client, model):
    if model is DeletionRecord:
        record = model.objects.create(what="a", where="local", why="b", source="c")
    else:
        record = model.objects.create(schedule="purge_queue", tick="2026-01-01T00:00:00Z")
    name = model._meta.model_name

    assert admin_client.get(reverse(f"admin:maintenance_{name}_add")).status_code == 403
    assert (
        admin_client.get(reverse(f"admin:maintenance_{name}_delete", args=[record.pk])).status_code
        == 403
    )
    change = admin_client.get(reverse(f"admin:maintenance_{name}_change", args=[record.pk]))
    assert change.status_code == 200
    assert 'name="_save"' not in change.content.decode()
    posted = admin_client.post(reverse(f"admin:maintenance_{name}_change", args=[record.pk]), {})
    assert posted.status_code == 403
