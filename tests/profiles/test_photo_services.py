"""Photo services called directly, in one process, on the real database and local storage."""

from __future__ import annotations

from django.core.files.uploadedfile import SimpleUploadedFile

from backend.profiles import services
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
