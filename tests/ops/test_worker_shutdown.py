"""SIGTERM on a worker: running jobs finish within the bound, or are requeued; none is lost.

The photo job waits on a slow (fake) Cloudflare, so it is genuinely mid-job
when the signal arrives.
"""

from __future__ import annotations

import os
import signal
import time

import pytest

from backend.profiles.models import PhotoJob
from tests import images
from tests.conftest import WorkerProcess, queued_messages, wait_for
from tests.profiles.test_photo_upload import upload
from tests.profiles.test_photo_worker import job_finished

pytestmark = pytest.mark.worker


def processing(user):
    return PhotoJob.objects.filter(user=user, state="processing").first()


def terminate(worker: WorkerProcess, timeout: float = 60) -> tuple[int, float]:
    """SIGTERM the main process only, as Docker and Kubernetes do; (exit code, seconds)."""
    started = time.monotonic()
    os.kill(worker.process.pid, signal.SIGTERM)
    code = worker.process.wait(timeout)
    return code, time.monotonic() - started


def test_sigterm_lets_a_running_job_finish_before_the_worker_exits(
    alice_client, alice, fake_cf, cf_worker
):
    fake_cf.latency = 3.0
    upload(alice_client, "a.jpg", images.jpeg())
    worker = cf_worker(DRAMATIQ_SHUTDOWN_TIMEOUT_MS="30000")
    wait_for(lambda: processing(alice), what="the worker to start the job")

    code, seconds = terminate(worker)
    assert (code, seconds < 30) == (0, True), seconds
    assert "Killing worker process" not in worker.log()
    job = PhotoJob.objects.get(user=alice)
    assert (job.state, job.attempts) == ("done", 1), job.detail
    assert queued_messages() == []
    assert "--worker-shutdown-timeout 30000" in worker.log()


def test_worker_killed_with_sigterm_mid_job_leaves_nothing_lost(
    alice_client, alice, fake_cf, cf_worker
):
    fake_cf.latency = 60.0  # far longer than the shutdown bound
    upload(alice_client, "a.jpg", images.jpeg())
    worker = cf_worker(DRAMATIQ_SHUTDOWN_TIMEOUT_MS="1000", CF_READ_TIMEOUT="4")
    wait_for(lambda: processing(alice), what="the worker to start the job")

    _, seconds = terminate(worker)
    # The 1 s drain, then the photo service's upload threads (a thread pool,
    # which Python joins before a process exits) hold the exit until their
    # request times out (CF_READ_TIMEOUT), plus a second or two of shutdown.
    assert seconds < 1 + 4 + 6, seconds
    assert "--worker-shutdown-timeout 1000" in worker.log()
    # Not done, not lost: still claimed by the exited worker, or already sent
    # back for a retry if the timed-out upload got that far.
    assert PhotoJob.objects.get(user=alice).state == "processing"
    assert len(queued_messages("photo_process")) == 1

    fake_cf.latency = 0.0
    cf_worker()  # its reaper requeues the job once the dead worker's heartbeat expires
    job = wait_for(lambda: job_finished(alice), timeout=60, what="the job to finish elsewhere")
    assert (job.state, job.attempts) == ("done", 2), job.detail
    wait_for(lambda: queued_messages() == [], what="the message to be acknowledged")
