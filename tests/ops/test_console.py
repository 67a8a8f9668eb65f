"""The operations console in the admin: escaped failures, retry and discard, staff only."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.urls import reverse
from django.utils import timezone

from actors.photos import photo_files_delete
from backend.jobs.models import Job
from tests import images
from tests.conftest import queued_messages, wait_for

pytestmark = pytest.mark.worker

XSS = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"


def failed(message_id: str) -> Job | None:
    return Job.objects.filter(pk=message_id, state=Job.State.REJECTED).first()


def test_failed_job_shows_its_error_and_traceback_with_visitor_text_escaped(
    admin_client, start_worker
):
    start_worker()
    # Text a visitor controls, in the job's arguments. An unknown storage alias
    # fails for good, and the exception message and traceback repeat the text.
    # max_retries=0 stands in for an exhausted retry budget.
    message = photo_files_delete.send_with_options(args=(XSS, ["a.webp"]), max_retries=0)
    job = wait_for(lambda: failed(message.message_id), what="the job to fail")
    assert XSS in job.traceback
    assert "InvalidStorageError" in job.error

    page = admin_client.get(reverse("admin:jobs_job_change", args=[job.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert XSS not in html
    # Arguments, error line and traceback, each escaped.
    assert html.count(ESCAPED) >= 3, html
    assert "Traceback (most recent call last)" in html
    assert "InvalidStorageError" in html

    listing = admin_client.get(reverse("admin:jobs_job_changelist"), {"status": "failed"})
    html = listing.content.decode()
    assert XSS not in html
    assert ESCAPED in html  # the error column
    assert str(job.pk) in html


def test_queue_summary_counts_jobs_by_state_and_ages_the_oldest_waiting(admin_client, clean_queue):
    # No worker: the jobs wait.
    photo_files_delete.send("local", ["a.webp"])
    photo_files_delete.send_with_options(args=("local", ["b.webp"]), delay=3_600_000)
    Job.objects.filter(queue_name="photos").update(
        available_at=timezone.now() - timedelta(minutes=5)
    )
    html = admin_client.get(reverse("admin:jobs_job_changelist")).content.decode()
    row = html[html.index('<th scope="row">photos</th>') :].split("</tr>")[0]
    cells = [cell.split("</td>")[0].strip() for cell in row.split("<td>")[1:]]
    # waiting, oldest waiting, delayed, running, failed
    assert cells == ["1", "5 min", "1", "0", "0"], cells
    assert "0 live, 0 dead" in html


def test_retry_puts_a_failed_job_back_and_it_succeeds_once_the_cause_is_gone(
    admin_client, fake_cf, cf_worker
):
    name = "avatars/1/replaced/512.webp"
    storages["cloudflare_images"].save(name, ContentFile(images.png(), name=name))
    fake_cf.inject("server_error", method="DELETE", times=1000)  # a Cloudflare outage
    worker = cf_worker()
    message = photo_files_delete.send_with_options(
        args=("cloudflare_images", [name]), max_retries=0
    )
    job = wait_for(lambda: failed(message.message_id), what="the deletion to fail")
    assert "StorageUnavailable" in job.error
    assert name in fake_cf.images
    worker.stop()

    response = admin_client.post(
        reverse("admin:jobs_job_changelist"),
        {"action": "retry_failed", "_selected_action": [str(job.pk)]},
        follow=True,
    )
    assert "1 failed job(s) retried." in response.content.decode()
    job.refresh_from_db()
    assert (job.state, job.queue_name, job.worker_id) == ("queued", "photos", None)
    assert job.available_at <= timezone.now()
    assert (job.attempts, job.traceback, job.options["operator_retries"]) == (0, "", 1)

    fake_cf.clear_faults()  # the outage is over
    cf_worker()
    wait_for(lambda: queued_messages() == [], what="the retried job to be acknowledged")
    assert name not in fake_cf.images


def test_discard_deletes_only_failed_jobs(admin_client, start_worker):
    start_worker()
    bad = photo_files_delete.send_with_options(args=("no-such-storage", ["a"]), max_retries=0)
    wait_for(lambda: failed(bad.message_id), what="the job to fail")
    later = photo_files_delete.send_with_options(args=("local", ["b"]), delay=3_600_000)

    response = admin_client.post(
        reverse("admin:jobs_job_changelist"),
        {"action": "discard_failed", "_selected_action": [bad.message_id, later.message_id]},
        follow=True,
    )
    html = response.content.decode()
    assert "1 failed job(s) discarded." in html
    assert "1 selected job(s) left alone" in html
    assert [str(pk) for pk in Job.objects.values_list("message_id", flat=True)] == [
        later.message_id
    ]


def test_console_is_for_staff_only(alice_client, clean_queue):
    for name in ("admin:jobs_job_changelist", "admin:jobs_worker_changelist"):
        response = alice_client.get(reverse(name))
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("admin:login"))
