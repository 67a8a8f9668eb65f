"""Photo uploads under faults: dead workers, database restarts, Cloudflare outages.

Each test records its figures for docs/reliability.md (`python3 dev.py reliability`).
"""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from tests import images
from tests.reliability.conftest import jobs_by_state, query
from tests.reliability.harness import record, wait_until

pytestmark = pytest.mark.reliability

PHOTO = images.jpeg(1600, 1200)


def referenced_images(pg) -> set[str]:
    rows = query(pg, "SELECT photo_name, photo_thumb_name FROM profiles_profile")
    return {name for row in rows for name in row if name}


def cloudflare_posts(fake) -> int:
    return sum(1 for method, path in fake.requests if method == "POST" and "/images/v1" in path)


def test_worker_killed_mid_upload_is_recovered_with_exactly_one_image_each(pg, fake_cf, system):
    fake_cf.latency = 2.0
    system.start_web()
    worker = system.start_worker()
    sessions = [system.signed_in_session(f"kill{i}") for i in range(4)]
    assert [system.upload(s, PHOTO) for s in sessions] == [302] * 4
    wait_until(lambda: cloudflare_posts(fake_cf) >= 2, timeout=60, what="uploads in flight")

    killed_at = time.monotonic()
    worker.kill(signal.SIGKILL)
    system.start_worker()
    wait_until(lambda: jobs_by_state(pg).get("done") == 4, timeout=120, what="all jobs done")
    recovery = time.monotonic() - killed_at

    referenced = referenced_images(pg)
    stored = set(fake_cf.images)
    attempts = [a for (a,) in query(pg, "SELECT attempts FROM profiles_photojob")]
    record(
        "worker SIGKILL mid photo upload",
        "every job completes after heartbeat rescue; one image per size at Cloudflare",
        {
            "jobs": 4,
            "completed": jobs_by_state(pg).get("done", 0),
            "lost": 4 - jobs_by_state(pg).get("done", 0),
            "images_at_cloudflare": len(stored),
            "duplicated_images": len(stored - referenced),
            "max_attempts": max(attempts),
            "recovery_seconds": round(recovery, 1),
        },
        holds=stored == referenced and len(stored) == 8,
    )
    assert stored == referenced
    assert len(stored) == 8


def test_database_restart_while_uploading_loses_nothing_and_answers_503(pg, fake_cf, system):
    fake_cf.latency = 0.3
    system.start_web()
    system.start_worker()
    system.start_scheduler()
    wait_until(lambda: system.alive("scheduler"), timeout=60, what="a scheduler to lead")
    sessions = [system.signed_in_session(f"db{i}") for i in range(3)]
    statuses: list[int | str] = []
    stop = threading.Event()

    def submit(session) -> None:
        while not stop.is_set():
            try:
                statuses.append(system.upload(session, PHOTO, timeout=10))
            except Exception as exc:  # a dropped connection is an outcome to count
                statuses.append(type(exc).__name__)
            time.sleep(0.2)

    threads = [threading.Thread(target=submit, args=(s,)) for s in sessions]
    for thread in threads:
        thread.start()
    time.sleep(4)
    restarted_at = time.monotonic()
    pg.restart_immediate(down_seconds=4)
    healthy = wait_until(
        lambda: system_healthy(system), timeout=60, what="the web to recover by itself"
    )
    web_recovery = time.monotonic() - restarted_at
    wait_until(lambda: system.alive("worker"), timeout=60, what="the worker's heartbeat")
    wait_until(lambda: system.alive("scheduler"), timeout=60, what="the scheduler to lead again")
    reconnect = time.monotonic() - restarted_at
    time.sleep(4)  # keep submitting after the restart: workers must pick these up too
    stop.set()
    for thread in threads:
        thread.join(30)

    accepted = statuses.count(302)
    try:
        wait_until(lambda: unfinished(pg) == 0, timeout=120, what="every job to finish")
    finally:
        print("jobs:", jobs_by_state(pg), "statuses:", statuses)
        print(
            query(pg, "SELECT queue_name, state, worker_id, message->'options' FROM dramatiq.queue")
        )
        print(query(pg, "SELECT * FROM dramatiq.worker"))
    wait_until(
        lambda: query(pg, "SELECT count(*) FROM dramatiq.queue")[0][0] == 0,
        timeout=120,
        what="replaced images to be deleted",
    )
    states = jobs_by_state(pg)
    total = sum(states.values())
    errors_500 = statuses.count(500)
    refused = {s for s in statuses if s not in (302,)}
    record(
        "Postgres restarted (immediate) under upload load",
        "web answers 503 while down; web, worker and scheduler recover by themselves; "
        "every accepted upload processed once",
        {
            "uploads_accepted": accepted,
            "jobs_recorded": total,
            "completed": states.get("done", 0),
            "failed": states.get("failed", 0),
            "http_500": errors_500,
            "other_outcomes": sorted(map(str, refused)),
            "web_recovery_seconds": round(web_recovery, 1),
            "worker_and_scheduler_back_seconds": round(reconnect, 1),
            "images_at_cloudflare": len(fake_cf.images),
            "unreferenced_images_left": len(set(fake_cf.images) - referenced_images(pg)),
        },
        holds=errors_500 == 0 and states.get("failed", 0) == 0 and total >= accepted,
    )
    assert healthy
    assert errors_500 == 0
    assert states.get("failed", 0) == 0
    # A response lost in the crash may hide a committed job, never the reverse.
    assert total >= accepted
    assert refused <= {503, "ConnectionError", "ReadTimeout"}


def unfinished(pg) -> int:
    states = jobs_by_state(pg)
    return states.get("queued", 0) + states.get("processing", 0)


def system_healthy(system) -> bool:
    import requests

    try:
        return requests.get(f"{system.web_url}/healthz", timeout=5).status_code == 200
    except requests.RequestException:
        return False


def test_worker_connection_terminated_mid_job_is_retried(pg, fake_cf, system):
    fake_cf.latency = 2.0
    system.env["DB_APPLICATION_NAME"] = "lagless-worker"
    system.start_web()
    system.start_worker()
    session = system.signed_in_session("term")
    assert system.upload(session, PHOTO) == 302
    wait_until(lambda: cloudflare_posts(fake_cf) >= 1, timeout=60, what="the upload in flight")
    killed = query(
        pg,
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE application_name = 'lagless-worker' AND datname = 'lagless'",
    )
    wait_until(lambda: jobs_by_state(pg).get("done") == 1, timeout=90, what="the job")
    [(attempts,)] = query(pg, "SELECT attempts FROM profiles_photojob")
    stored = set(fake_cf.images)
    record(
        "worker's database connection terminated mid-job",
        "the job is retried and completes once",
        {
            "connections_terminated": len(killed),
            "completed": 1,
            "attempts": attempts,
            "images_at_cloudflare": len(stored),
        },
        holds=stored == referenced_images(pg) and len(stored) == 2,
    )
    assert len(killed) >= 1
    assert stored == referenced_images(pg)


def test_cloudflare_outage_of_500s_hangs_and_429s_is_ridden_out(pg, fake_cf, system):
    system.start_web()
    system.start_worker()
    session = system.signed_in_session("outage")
    phases = [
        ("server_error", {}),
        ("hang", {"seconds": 30}),
        ("rate_limit", {"retry_after": 10}),
    ]
    fake_cf.inject(phases[0][0], times=10**6, **phases[0][1])
    started = time.monotonic()
    assert system.upload(session, PHOTO) == 302
    for kind, options in phases[1:]:
        time.sleep(15)
        fake_cf.clear_faults()
        fake_cf.inject(kind, times=10**6, **options)
    time.sleep(15)
    fake_cf.clear_faults()
    outage = time.monotonic() - started
    wait_until(lambda: jobs_by_state(pg).get("done") == 1, timeout=240, what="the job")
    done_after = time.monotonic() - started
    [(attempts,)] = query(pg, "SELECT attempts FROM profiles_photojob")
    stored = set(fake_cf.images)
    record(
        "Cloudflare outage: 15 s of 500s, 15 s of hangs, 15 s of 429 (Retry-After 10)",
        "the job completes once the service is back, with backoff between attempts",
        {
            "outage_seconds": round(outage),
            "completed_after_seconds": round(done_after),
            "attempts": attempts,
            "upload_requests": cloudflare_posts(fake_cf),
            "images_at_cloudflare": len(stored),
        },
        holds=len(stored) == 2,
    )
    assert stored == referenced_images(pg)
    assert attempts >= 4


def test_duplicate_delivery_of_a_photo_message_changes_nothing(pg, fake_cf, system):
    system.start_web()
    system.start_worker()
    session = system.signed_in_session("dup")
    assert system.upload(session, PHOTO) == 302
    wait_until(lambda: jobs_by_state(pg).get("done") == 1, timeout=60, what="the job")
    before = (set(fake_cf.images), query(pg, "SELECT attempts, finished_at FROM profiles_photojob"))
    [(job_id,)] = query(pg, "SELECT id::text FROM profiles_photojob")
    # The same message again, as a redelivery would bring it.
    pg.redeliver(queue="photos", actor="photo_process", args=[job_id])
    after = (set(fake_cf.images), query(pg, "SELECT attempts, finished_at FROM profiles_photojob"))
    record(
        "duplicate delivery of a photo message",
        "the second delivery changes nothing",
        {
            "images_before": len(before[0]),
            "images_after": len(after[0]),
            "changed": before != after,
        },
        holds=before == after,
    )
    assert before == after


def test_worker_stopped_with_sigterm_while_busy_loses_nothing(pg, fake_cf, system):
    fake_cf.latency = 2.0  # under the system's 3 s read timeout
    system.start_web()
    worker = system.start_worker("-p", "1", "-t", "2")
    sessions = [system.signed_in_session(f"term{i}") for i in range(5)]
    assert [system.upload(s, PHOTO) for s in sessions] == [302] * 5
    wait_until(lambda: cloudflare_posts(fake_cf) >= 2, timeout=60, what="uploads in flight")
    # To the main process only, as an orchestrator does; it forwards the signal to
    # its worker processes (a second SIGTERM would mean "kill now").
    os.kill(worker.popen.pid, signal.SIGTERM)
    worker.popen.wait(60)
    done_by_first = jobs_by_state(pg).get("done", 0)
    system.start_worker()
    wait_until(lambda: jobs_by_state(pg).get("done") == 5, timeout=120, what="all five jobs")
    stored = set(fake_cf.images)
    record(
        "worker stopped with SIGTERM while busy",
        "in-flight jobs finish, the rest are picked up by the next worker; none lost",
        {
            "jobs": 5,
            "finished_before_exit": done_by_first,
            "completed_in_all": jobs_by_state(pg).get("done", 0),
            "worker_exit_code": worker.popen.returncode,
            "images_at_cloudflare": len(stored),
        },
        holds=stored == referenced_images(pg) and len(stored) == 10,
    )
    assert done_by_first >= 1
    assert stored == referenced_images(pg)
    assert len(stored) == 10
