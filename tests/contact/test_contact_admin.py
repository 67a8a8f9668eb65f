"""The contact admin: visitor text is escaped everywhere; only failed messages are resent."""

from __future__ import annotations

from django.contrib.auth.models import Permission, User
from django.test import Client
from django.urls import reverse

from backend.contact import services
from backend.contact.models import ContactMessage
from tests.conftest import queued_messages

SCRIPT = '<script>alert("name")</script>'
IMG = "<img src=x onerror=alert(1)>"


def a_message(**changes: str) -> ContactMessage:
    fields = {
        "name": SCRIPT,
        "email": "eve@example.net",
        "category": "bug",
        "body": f"Body {IMG}\nsecond line",
        **changes,
    }
    return services.contact_message_submit(**fields, ip="192.0.2.66", user=None)


def changelist() -> str:
    return reverse("admin:contact_contactmessage_changelist")


def test_visitor_text_is_escaped_in_the_change_list_and_the_change_page(admin_client):
    message = a_message()
    for url in (changelist(), reverse("admin:contact_contactmessage_change", args=[message.pk])):
        response = admin_client.get(url)
        assert response.status_code == 200
        html = response.content.decode()
        assert SCRIPT not in html
        assert "&lt;script&gt;alert(&quot;name&quot;)&lt;/script&gt;" in html
        assert IMG not in html
    page = admin_client.get(reverse("admin:contact_contactmessage_change", args=[message.pk]))
    assert "Body &lt;img src=x onerror=alert(1)&gt;" in page.content.decode()


def test_messages_can_be_filtered_by_state(admin_client):
    failed = a_message(name="Failed Fay")
    a_message(name="Queued Quinn", email="q@example.net")
    services.contact_message_fail(message_id=str(failed.pk), reason="gave up")
    html = admin_client.get(changelist(), {"state__exact": "failed"}).content.decode()
    assert "Failed Fay" in html
    assert "Queued Quinn" not in html


def test_the_resend_action_queues_a_failed_message_once(admin_client):
    message = a_message()
    services.contact_message_fail(message_id=str(message.pk), reason="gave up")
    before = len(queued_messages("contact_send"))
    action = {"action": "resend", "_selected_action": [str(message.pk)]}
    admin_client.post(changelist(), action)
    admin_client.post(changelist(), action)
    message.refresh_from_db()
    assert message.state == "queued"
    assert len(queued_messages("contact_send")) == before + 1


def test_staff_who_may_only_view_messages_cannot_resend(db):
    viewer = User.objects.create_user("viewer", "v@example.org", "pw", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_contactmessage"))
    client = Client()
    client.force_login(viewer)
    message = a_message()
    services.contact_message_fail(message_id=str(message.pk), reason="gave up")
    page = client.get(changelist())
    assert page.status_code == 200
    assert 'value="resend"' not in page.content.decode()
    client.post(changelist(), {"action": "resend", "_selected_action": [str(message.pk)]})
    message.refresh_from_db()
    assert message.state == "failed"


def test_nobody_adds_or_edits_messages_in_the_admin(admin_client):
    message = a_message()
    assert admin_client.get(reverse("admin:contact_contactmessage_add")).status_code == 403
    url = reverse("admin:contact_contactmessage_change", args=[message.pk])
    admin_client.post(url, {"name": "Edited", "email": "x@example.org"})
    message.refresh_from_db()
    assert message.name == SCRIPT
