"""The photo pipeline end to end with a real worker process on the real broker."""

from __future__ import annotations

import io

import pytest
from django.urls import reverse
from PIL import Image

from backend.profiles.models import PhotoJob, Profile
from tests import images
from tests.conftest import queued_messages, wait_for
from tests.profiles.test_photo_upload import upload

pytestmark = pytest.mark.worker


def job_finished(user):
    job = PhotoJob.objects.filter(user=user).first()
    return job if job is not None and job.state in PhotoJob.FINISHED else None


def test_upload_answers_before_the_job_runs_then_a_worker_finishes_it(
    alice_client, alice, media_root, start_worker
):
    # No worker yet: the request cannot have waited for one.
    response = upload(alice_client, "IMG_1234.jpg", images.jpeg(3000, 2000, gps=True))
    assert response.status_code == 302
    job = PhotoJob.objects.get(user=alice)
    assert (job.state, job.started_at, job.attempts) == ("queued", None, 0)
    assert len(queued_messages("photo_process")) == 1

    start_worker()
    job = wait_for(lambda: job_finished(alice), what="the photo job to finish")
    assert job.state == "done", job.error
    assert job.original is None  # staged bytes deleted
    assert job.started_at > job.created_at
    profile = Profile.objects.get(user=alice)
    assert profile.photo_job_id == job.id
    stored = media_root / profile.photo_name
    image = Image.open(stored)
    assert (image.format, image.size) == ("WEBP", (512, 512))
    assert not image.getexif()
    assert (media_root / profile.photo_thumb_name).exists()
    wait_for(lambda: queued_messages() == [], what="the message to be acknowledged")

    page = alice_client.get(reverse("settings")).content.decode()
    assert f'src="/media/{profile.photo_name}"' in page
    served = alice_client.get(f"/media/{profile.photo_name}")
    assert served.status_code == 200
    assert Image.open(io.BytesIO(b"".join(served.streaming_content))).size == (512, 512)


def test_replacing_a_photo_deletes_the_previous_files_after_the_switch(
    alice_client, alice, media_root, start_worker
):
    start_worker()
    upload(alice_client, "first.jpg", images.jpeg())
    first = wait_for(lambda: job_finished(alice), what="first job")
    old = Profile.objects.get(user=alice)
    assert (media_root / old.photo_name).exists()

    upload(alice_client, "second.png", images.png(900, 700))
    wait_for(
        lambda: PhotoJob.objects.filter(user=alice, state="done").exclude(pk=first.pk).exists(),
        what="second job",
    )
    new = Profile.objects.get(user=alice)
    assert new.photo_name != old.photo_name
    assert (media_root / new.photo_name).exists()
    wait_for(lambda: not (media_root / old.photo_name).exists(), what="old photo deletion")
    assert not (media_root / old.photo_thumb_name).exists()


def test_display_name_edited_while_the_photo_is_processing_survives(
    alice_client, alice, start_worker
):
    upload(alice_client, "big.png", images.png(6000, 4000))
    start_worker()
    wait_for(
        lambda: PhotoJob.objects.filter(user=alice, state__in=["processing", "done"]).exists(),
        what="the worker to pick the job up",
    )
    alice_client.post(
        reverse("settings"), {"display_name": "Alice Liddell", "bio": "Down the hole"}
    )
    job = wait_for(lambda: job_finished(alice), what="the photo job")
    assert job.state == "done"
    profile = Profile.objects.get(user=alice)
    assert (profile.display_name, profile.bio) == ("Alice Liddell", "Down the hole")
    assert profile.photo_job_id == job.id


def test_undecodable_image_fails_permanently_with_a_reason_and_keeps_the_old_photo(
    alice_client, alice, media_root, start_worker
):
    start_worker()
    upload(alice_client, "good.jpg", images.jpeg())
    good = wait_for(lambda: job_finished(alice), what="the good job")
    before = Profile.objects.get(user=alice)

    upload(alice_client, "bad.png", images.png_undecodable(), content_type="image/png")
    bad = wait_for(
        lambda: PhotoJob.objects.filter(user=alice, state="failed").first(),
        what="the bad job to fail",
    )
    assert bad.attempts == 1  # permanent: no retry
    assert "could not be decoded" in bad.error
    assert bad.original is None
    after = Profile.objects.get(user=alice)
    assert (after.photo_name, after.photo_job_id) == (before.photo_name, good.id)
    assert (media_root / after.photo_name).exists()
    page = alice_client.get(reverse("settings")).content.decode()
    assert "Your last photo could not be used" in page
    assert "could not be decoded" in page
    wait_for(lambda: queued_messages() == [], what="no message left behind")


def test_a_second_delivery_of_a_finished_job_changes_nothing(alice_client, alice, start_worker):
    from actors.photos import photo_process

    start_worker()
    upload(alice_client, "a.jpg", images.jpeg())
    job = wait_for(lambda: job_finished(alice), what="the job")
    profile = Profile.objects.get(user=alice)
    photo_process.send(str(job.id))
    wait_for(lambda: queued_messages() == [], what="the duplicate to be consumed")
    job.refresh_from_db()
    assert job.attempts == 1
    assert Profile.objects.get(user=alice).photo_name == profile.photo_name
