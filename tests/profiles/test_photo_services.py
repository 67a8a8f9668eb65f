"""Photo services called directly, in one process, on the real database and local storage."""

from __future__ import annotations

import threading
import time

from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection

from backend.profiles import imaging, services
from backend.profiles.models import PhotoJob, Profile
from tests import images
from tests.conftest import queued_messages


def create_job(user, data: bytes) -> PhotoJob:
    return services.photo_job_create(user=user, upload=SimpleUploadedFile("p.jpg", data))


def test_older_job_finishing_after_a_newer_one_does_not_win(alice, media_root, clean_queue):
    older = create_job(alice, images.jpeg(300, 300))
    newer = create_job(alice, images.png(300, 300))
    services.photo_job_process(job_id=str(newer.pk))
    services.photo_job_process(job_id=str(older.pk))

    profile = Profile.objects.get(user=alice)
    assert profile.photo_job_id == newer.pk
    assert str(newer.pk) in profile.photo_name
    older.refresh_from_db()
    assert older.state == "done"
    [deletion] = queued_messages("photo_files_delete")
    assert all(str(older.pk) in name for name in deletion["args"][1])


def test_a_photo_that_keeps_killing_its_worker_is_failed_not_retried_forever(alice, clean_queue):
    job = create_job(alice, images.jpeg())
    PhotoJob.objects.filter(pk=job.pk).update(
        state="processing", attempts=services.PHOTO_MAX_ATTEMPTS
    )
    services.photo_job_process(job_id=str(job.pk))
    job.refresh_from_db()
    assert job.state == "failed"
    assert "could not be processed" in job.error
    assert job.original is None
    assert Profile.objects.get(user=alice).photo_name == ""


def test_processing_a_deleted_job_is_a_no_op(db):
    services.photo_job_process(job_id="00000000-0000-0000-0000-00000000dead")


def test_profile_update_writes_only_text_fields(alice, media_root, clean_queue):
    job = create_job(alice, images.jpeg())
    profile = services.profile_get(user=alice)  # a stale copy, read before the photo lands
    services.photo_job_process(job_id=str(job.pk))
    services.profile_update(user=alice, display_name="Al", bio="hello")
    fresh = Profile.objects.get(pk=profile.pk)
    assert (fresh.display_name, fresh.bio, fresh.photo_job_id) == ("Al", "hello", job.pk)


def test_renders_at_once_are_bounded_whatever_the_thread_count(
    alice, media_root, clean_queue, monkeypatch
):
    jobs = [create_job(alice, images.jpeg(200, 200)) for _ in range(5)]
    lock = threading.Lock()
    two_running = threading.Event()
    running = peak = 0
    real_render = imaging.photo_render

    def slow_render(data: bytes) -> dict[int, bytes]:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
            if running >= 2:
                two_running.set()
        try:
            # Hold the slot until a second render runs beside this one, so the
            # peak is reached however the threads are scheduled; then linger
            # long enough for any render past the bound to show up.
            two_running.wait(10)
            time.sleep(0.3)
            return real_render(data)
        finally:
            with lock:
                running -= 1

    monkeypatch.setattr(imaging, "photo_render", slow_render)

    def process(job_id: str) -> None:
        try:
            services.photo_job_process(job_id=job_id)
        finally:
            connection.close()

    threads = [threading.Thread(target=process, args=(str(job.pk),)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert peak == settings.PHOTO_RENDERS_AT_ONCE == 2
    assert set(PhotoJob.objects.values_list("state", flat=True)) == {"done"}
