"""/metrics: Prometheus text for staff or the token, with counters written by worker processes."""

from __future__ import annotations

import contextlib

import pytest
from django.db import connection, transaction
from django.test import Client

from actors.photos import photo_files_delete
from backend.contact.models import ContactMessage
from backend.jobs.metrics import CounterBuffer
from backend.jobs.models import Job, JobCounter
from tests import images
from tests.conftest import wait_for
from tests.ops.conftest import Series, parse_metrics, sample
from tests.profiles.test_photo_upload import upload
from tests.profiles.test_photo_worker import job_finished


def scrape(client: Client) -> dict[Series, float]:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    return parse_metrics(response.content.decode())


def test_metrics_refuse_anonymous_and_non_staff_users(client, alice_client, settings):
    settings.METRICS_TOKEN = ""
    response = client.get("/metrics")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="metrics"'
    # With no token configured, no bearer value opens the door.
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 401
    assert alice_client.get("/metrics").status_code == 403


def test_metrics_accept_the_configured_bearer_token_only(client, settings, db):
    settings.METRICS_TOKEN = "scrape-me-0123456789"
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    ok = client.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-me-0123456789")
    assert ok.status_code == 200
    samples = parse_metrics(ok.content.decode())
    assert sample(samples, "lagless_scheduler_leader") == 0
    for state in ("queued", "processing", "done", "failed"):
        assert ("lagless_photo_jobs", frozenset({("state", state)})) in samples
    assert ("lagless_contact_messages", frozenset({("state", "sent")})) in samples


def test_emails_sent_are_counted_from_contact_messages(admin_client):
    ContactMessage.objects.create(
        name="Visitor",
        email="visitor@example.org",
        category="feedback",
        body="Hello",
        state="sent",
        message_id_header="<1@example.org>",
    )
    samples = scrape(admin_client)
    assert sample(samples, "lagless_contact_messages", state="sent") == 1
    assert sample(samples, "lagless_contact_messages", state="failed") == 0


def test_a_send_is_counted_only_when_its_transaction_commits(clean_queue):
    with contextlib.suppress(RuntimeError), transaction.atomic():
        photo_files_delete.send("local", ["a.webp"])
        raise RuntimeError("the view failed after sending")
    assert not JobCounter.objects.exists()
    with transaction.atomic():
        photo_files_delete.send("local", ["a.webp"])
        assert not JobCounter.objects.exists()  # not before the commit
    counter = JobCounter.objects.get(actor="photo_files_delete", metric="enqueued")
    assert counter.value == 1


def counter_values() -> dict[tuple[str, str, str], int]:
    return {
        (actor, metric, label): value
        for actor, metric, label, value in JobCounter.objects.values_list(
            "actor", "metric", "label", "value"
        )
    }


def test_buffered_counts_are_added_up_and_written_by_one_statement_later(
    transactional_db, settings, django_assert_num_queries
):
    # Long enough that the test's next lines run well before the thread writes.
    settings.JOB_COUNTERS_FLUSH_SECONDS = 2
    buffer = CounterBuffer(idle_close_seconds=0.2)
    buffer.add([("a", "processed", "succeeded", 1), ("a", "duration_ms_sum", "", 40)])
    buffer.add([("a", "processed", "succeeded", 1), ("b", "processed", "failed", 1)])
    assert counter_values() == {}  # nothing written yet: the thread waits for the interval
    expected = {
        ("a", "processed", "succeeded"): 2,
        ("a", "duration_ms_sum", ""): 40,
        ("b", "processed", "failed"): 1,
    }
    wait_for(lambda: counter_values() == expected, timeout=15, what="the flush")
    buffer.add([("b", "processed", "failed", 2)])
    with django_assert_num_queries(1):
        assert buffer.flush()  # on this thread, at once, one statement
    with django_assert_num_queries(0):
        assert buffer.flush()  # nothing pending: no statement
    assert counter_values()[("b", "processed", "failed")] == 3


def test_counts_that_cannot_be_written_are_kept_for_the_next_flush(transactional_db, settings):
    settings.JOB_COUNTERS_FLUSH_SECONDS = 0
    buffer = CounterBuffer()
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE jobs_jobcounter RENAME TO jobs_jobcounter_away")
    try:
        buffer.add([("a", "enqueued", "", 1)])  # logged, kept
        assert not buffer.flush()
    finally:
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE jobs_jobcounter_away RENAME TO jobs_jobcounter")
    assert counter_values() == {}
    buffer.add([("a", "enqueued", "", 1)])
    assert counter_values() == {("a", "enqueued", ""): 2}


@pytest.mark.worker
def test_a_worker_writes_its_buffered_counts_when_it_stops(clean_queue, start_worker):
    # An hour between flushes: only the shutdown flush can write these counts.
    worker = start_worker("--processes", "1", "--threads", "2", JOB_COUNTERS_FLUSH_SECONDS="3600")
    sent = [photo_files_delete.send("local", [f"gone-{n}.webp"]) for n in range(3)]
    ids = [message.message_id for message in sent]
    # Acknowledged jobs leave the queue table.
    wait_for(lambda: not Job.objects.filter(pk__in=ids).exists(), what="the three jobs")
    key = ("photo_files_delete", "processed", "succeeded")
    assert key not in counter_values()  # still in the worker's memory
    assert worker.stop() == 0
    assert counter_values()[key] == 3


@pytest.mark.worker
def test_counters_move_when_worker_processes_run_jobs(
    admin_client, alice_client, alice, start_worker
):
    before = scrape(admin_client)
    assert sample(before, "lagless_queue_jobs", queue="photos", state="waiting") == 0

    upload(alice_client, "a.jpg", images.jpeg())
    # Fails for good on its second attempt: one retry, then a failure.
    flaky = photo_files_delete.send_with_options(
        args=("no-such-storage", ["x.webp"]), max_retries=1, min_backoff=100, max_backoff=200
    )
    waiting = scrape(admin_client)
    assert sample(waiting, "lagless_queue_jobs", queue="photos", state="waiting") == 2
    assert sample(waiting, "lagless_queue_oldest_waiting_seconds", queue="photos") > 0
    assert sample(waiting, "lagless_jobs_enqueued_total", actor="photo_process") == 1

    worker = start_worker()
    wait_for(lambda: job_finished(alice), what="the photo job")
    wait_for(
        lambda: Job.objects.filter(pk=flaky.message_id, state="rejected").exists(),
        what="the flaky job to fail",
    )

    def counted():
        now = scrape(admin_client)
        done = sample(
            now, "lagless_jobs_processed_total", actor="photo_files_delete", outcome="failed"
        )
        return now if done == 1 else None

    after = wait_for(counted, what="the failure to be counted")
    processed = "lagless_jobs_processed_total"
    assert sample(after, processed, actor="photo_process", outcome="succeeded") == 1
    assert sample(after, processed, actor="photo_files_delete", outcome="retried") == 1
    assert sample(after, "lagless_jobs_enqueued_total", actor="photo_files_delete") == 1
    duration = "lagless_job_duration_seconds"
    assert sample(after, f"{duration}_count", actor="photo_process") == 1
    assert sample(after, f"{duration}_bucket", actor="photo_process", le="+Inf") == 1
    assert sample(after, f"{duration}_sum", actor="photo_process") > 0
    assert sample(after, f"{duration}_count", actor="photo_files_delete") == 2
    assert sample(after, "lagless_photo_jobs", state="done") == 1
    assert sample(after, "lagless_queue_jobs", queue="photos", state="failed") == 1
    assert sample(after, "lagless_queue_jobs", queue="photos", state="waiting") == 0
    assert sample(after, "lagless_workers", status="live") == 1

    # Every attempt's log line says which attempt it was and how it ended.
    log = worker.log()
    assert "actor=photo_files_delete" in log
    lines = [line for line in log.splitlines() if "actor=photo_files_delete" in line]
    assert [("attempt=1" in line, "attempt=2" in line) for line in lines] == [
        (True, False),
        (False, True),
    ], lines
    assert all("outcome=error InvalidStorageError" in line for line in lines)
