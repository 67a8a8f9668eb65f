"""Photos stored in Cloudflare Images (the fake, over real HTTP) by a real worker."""

from __future__ import annotations

import subprocess
import sys

import pytest
from django.urls import reverse

from backend.media.fake_cloudflare import FakeCloudflareImages
from backend.profiles.models import PhotoJob, Profile
from tests import images
from tests.conftest import CF_HASH, ROOT, queued_messages, wait_for
from tests.profiles.test_photo_upload import upload
from tests.profiles.test_photo_worker import job_finished

pytestmark = pytest.mark.worker


def uploads_to_cloudflare(fake: FakeCloudflareImages) -> int:
    return sum(1 for method, path in fake.requests if method == "POST" and "/images/v1" in path)


def test_photo_is_stored_at_cloudflare_by_id_and_the_page_never_calls_it(
    alice_client, alice, fake_cf, cf_worker
):
    fake_cf.latency = 1.5
    response = upload(alice_client, "phone.jpg", images.jpeg(2000, 1500))
    assert response.status_code == 302
    # The request has answered; nothing is at Cloudflare yet.
    assert fake_cf.images == {}
    cf_worker()
    job = wait_for(lambda: job_finished(alice), what="the job")
    assert job.state == "done", job.error
    profile = Profile.objects.get(user=alice)
    assert set(fake_cf.images) == {profile.photo_name, profile.photo_thumb_name}
    assert not profile.photo_name.startswith("http")

    seen = len(fake_cf.requests)
    page = alice_client.get(reverse("settings")).content.decode()
    assert f"https://imagedelivery.net/{CF_HASH}/{profile.photo_name}/public" in page
    assert len(fake_cf.requests) == seen


def test_rate_limit_waits_for_retry_after_then_succeeds(alice_client, alice, fake_cf, cf_worker):
    fake_cf.inject("rate_limit", retry_after=2)
    upload(alice_client, "a.jpg", images.jpeg())
    cf_worker()
    job = wait_for(lambda: job_finished(alice), what="the job")
    assert job.state == "done", job.error
    assert job.attempts == 2
    # The first attempt started before the 429; the one that succeeded cannot
    # have started less than Retry-After seconds later.
    assert (job.finished_at - job.started_at).total_seconds() >= 2.0


def test_server_error_page_is_retried(alice_client, alice, fake_cf, cf_worker):
    fake_cf.inject("server_error")
    upload(alice_client, "a.jpg", images.jpeg())
    cf_worker()
    job = wait_for(lambda: job_finished(alice), what="the job")
    assert (job.state, job.attempts) == ("done", 2)
    assert len(fake_cf.images) == 2


def test_lost_responses_never_duplicate_or_orphan_an_image(alice_client, alice, fake_cf, cf_worker):
    fake_cf.inject("drop_after_store", times=3)
    upload(alice_client, "a.jpg", images.jpeg())
    cf_worker()
    job = wait_for(lambda: job_finished(alice), timeout=60, what="the job")
    assert job.state == "done", job.error
    # Both sizes upload at once: attempt 1 loses both answers, attempt 2 loses
    # one and finds the other stored, attempt 3 finds both stored.
    assert job.attempts == 3
    assert uploads_to_cloudflare(fake_cf) == 6
    assert fake_cf.state()["faults"] == []
    profile = Profile.objects.get(user=alice)
    assert set(fake_cf.images) == {profile.photo_name, profile.photo_thumb_name}


def test_permanent_refusal_fails_the_job_with_its_reason_and_keeps_the_old_photo(
    alice_client, alice, fake_cf, cf_worker
):
    cf_worker()
    upload(alice_client, "good.jpg", images.jpeg())
    wait_for(lambda: job_finished(alice), what="the first job")
    before = Profile.objects.get(user=alice)

    fake_cf.inject("error", status=415, code=5455, message="Unsupported image type")
    upload(alice_client, "second.jpg", images.jpeg(300, 300))
    failed = wait_for(
        lambda: PhotoJob.objects.filter(user=alice, state="failed").first(), what="the refusal"
    )
    assert failed.attempts == 1
    assert "Unsupported image type" in failed.error
    assert "5455" in failed.detail
    after = Profile.objects.get(user=alice)
    assert after.photo_name == before.photo_name
    assert before.photo_name in fake_cf.images
    assert "Unsupported image type" in alice_client.get(reverse("settings")).content.decode()


def test_previous_image_is_deleted_only_after_the_profile_points_at_the_new_one(
    alice_client, alice, fake_cf, cf_worker
):
    cf_worker()
    upload(alice_client, "first.jpg", images.jpeg())
    wait_for(lambda: job_finished(alice), what="the first job")
    old = Profile.objects.get(user=alice)

    fake_cf.inject("hang", seconds=3, method="DELETE", times=2)
    upload(alice_client, "second.jpg", images.jpeg(500, 500))
    wait_for(
        lambda: any(m == "DELETE" for m, _ in fake_cf.requests), what="the first delete request"
    )
    # The delete is in flight: the profile already shows the new photo.
    current = Profile.objects.get(user=alice)
    assert current.photo_name != old.photo_name
    assert current.photo_name in fake_cf.images
    wait_for(lambda: old.photo_name not in fake_cf.images, what="the old image to go")
    wait_for(lambda: old.photo_thumb_name not in fake_cf.images, what="the old thumbnail to go")
    assert set(fake_cf.images) == {current.photo_name, current.photo_thumb_name}
    wait_for(lambda: queued_messages() == [], what="the queue to drain")


def test_wrong_token_gives_operators_a_clear_error(alice_client, alice, fake_cf, cf_worker):
    worker = cf_worker(CF_IMG_TOKEN="not-the-token")
    upload(alice_client, "a.jpg", images.jpeg())
    job = wait_for(lambda: job_finished(alice), what="the job")
    assert job.state == "failed"
    assert job.attempts == 1
    assert "not available right now" in job.error
    assert "credentials are wrong" in job.detail and "CF_IMG_TOKEN" in job.detail
    wait_for(lambda: "Cloudflare rejected our credentials" in worker.log(), what="the error log")


def test_missing_credentials_outside_dev_fail_at_start_up():
    env = {
        "PATH": "/usr/bin:/bin",
        "ENV_NAME": "prod",
        "SECRET_KEY": "x" * 50,
        "ALLOWED_HOSTS": "example.org",
        "CONTACT_RECIPIENTS": "ops@example.org",
        "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none",
        "CF_ACCT_ID": "acct",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode != 0
    assert "CF_IMG_TOKEN, CF_IMG_HASH" in result.stderr
    assert "PHOTO_STORAGE=local" in result.stderr
