"""The cleanup services and their commands, on the real database, local files and the fake."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from backend.maintenance.image_cleanup import (
    image_candidates,
    image_delete_if_orphan,
    images_cleanup,
)
from backend.maintenance.models import DeletionRecord, ScheduledRun
from backend.maintenance.queue_purge import queue_purge
from backend.maintenance.report import Report
from backend.maintenance.upload_cleanup import ABANDONED_REASON, uploads_cleanup
from backend.profiles.models import PhotoJob, Profile
from tests.maintenance.conftest import (
    cf_upload,
    foreign_name,
    job_names,
    local_file,
    photo_job,
    profile_pointing_at,
)

OLD = timedelta(hours=3)
GRACE = timedelta(hours=1)


@pytest.fixture
def grace(settings):
    settings.CLEANUP_GRACE_SECONDS = int(GRACE.total_seconds())


@pytest.fixture
def local_photos(alice, bob, media_root, grace):
    """Alice's current photo, her replaced one, Bob's upload in flight, and strays."""
    current, replaced = photo_job(alice), photo_job(alice)
    in_flight = photo_job(bob, PhotoJob.State.PROCESSING)
    profile_pointing_at(alice, current, "local")
    names = {
        "current": job_names(current),
        "replaced": job_names(replaced),
        "in_flight": job_names(in_flight),
        "stray": (foreign_name(),),
    }
    for name in [n for group in names.values() for n in group]:
        local_file(media_root, name, age=OLD)
    young = foreign_name()
    local_file(media_root, young, age=timedelta(minutes=5))
    names["young"] = (young,)
    return names


def existing(media_root, names):
    return {name for name in names if (media_root / name).exists()}


def test_orphans_past_grace_are_deleted_and_audited_the_rest_kept(media_root, local_photos):
    report = images_cleanup(dry_run=False, source="test")

    orphans = {*local_photos["replaced"], *local_photos["stray"]}
    kept = {*local_photos["current"], *local_photos["in_flight"], *local_photos["young"]}
    assert existing(media_root, orphans) == set()
    assert existing(media_root, kept) == kept
    assert report.counts == {
        "images listed": 8,
        "deleted images": 3,
        "kept: referenced": 2,
        "kept: pending job": 2,
        "kept: in grace period": 1,
    }
    records = DeletionRecord.objects.all()
    assert {r.what for r in records} == orphans
    assert {(r.where, r.dry_run, r.source) for r in records} == {("local", False, "test")}
    assert all("past the 1:00:00 grace period" in r.why for r in records)


def test_dry_run_command_prints_what_it_would_delete_and_deletes_nothing(media_root, local_photos):
    out = io.StringIO()
    call_command("cleanup_images", "--dry-run", stdout=out)

    orphans = {*local_photos["replaced"], *local_photos["stray"]}
    assert existing(media_root, orphans) == orphans
    printed = out.getvalue()
    for name in orphans:
        assert f"would delete {name} from local: " in printed
    assert "cleanup_images (dry run, nothing deleted): " in printed
    assert "would delete images: 3" in printed
    for name in [*local_photos["current"], *local_photos["in_flight"], *local_photos["young"]]:
        assert name not in printed
    records = DeletionRecord.objects.all()
    assert {(r.what, r.dry_run, r.source) for r in records} == {
        (name, True, "manage.py cleanup_images") for name in orphans
    }


def test_image_that_a_profile_took_up_after_the_listing_is_kept(alice, media_root, local_photos):
    report = Report("cleanup_images", False, "test")
    candidates = image_candidates(alias="local", grace=GRACE, report=report)
    replaced_photo, replaced_thumb = local_photos["replaced"]
    assert {c.name for c in candidates} >= {replaced_photo, replaced_thumb}
    # Meanwhile the profile comes to point at the listed images.
    Profile.objects.filter(user=alice).update(
        photo_name=replaced_photo, photo_thumb_name=replaced_thumb
    )

    for candidate in candidates:
        image_delete_if_orphan(image=candidate, grace=GRACE, report=report)

    assert existing(media_root, local_photos["replaced"]) == set(local_photos["replaced"])
    assert existing(media_root, local_photos["stray"]) == set()
    assert report.counts["kept on re-check: referenced"] == 2


def test_images_of_a_job_requeued_after_the_listing_are_kept(alice, media_root, local_photos):
    report = Report("cleanup_images", False, "test")
    candidates = image_candidates(alias="local", grace=GRACE, report=report)
    replaced = PhotoJob.objects.get(pk=local_photos["replaced"][0].split("/")[2])
    # An operator puts the failed job back in the queue to process it again.
    PhotoJob.objects.filter(pk=replaced.pk).update(state=PhotoJob.State.QUEUED)

    for candidate in candidates:
        image_delete_if_orphan(image=candidate, grace=GRACE, report=report)

    assert existing(media_root, job_names(replaced)) == set(job_names(replaced))
    assert report.counts["kept on re-check: pending job"] == 2


def test_local_file_rewritten_after_the_listing_is_kept(media_root, local_photos):
    report = Report("cleanup_images", False, "test")
    candidates = image_candidates(alias="local", grace=GRACE, report=report)
    [stray] = local_photos["stray"]
    local_file(media_root, stray, age=timedelta(0))

    for candidate in candidates:
        image_delete_if_orphan(image=candidate, grace=GRACE, report=report)

    assert (media_root / stray).exists()
    assert report.counts["kept on re-check: in grace period"] == 1


def test_cloudflare_orphans_are_listed_through_the_api_and_deleted(alice, bob, fake_cf, settings):
    settings.CLEANUP_GRACE_SECONDS = 0
    current, replaced = photo_job(alice), photo_job(alice)
    in_flight = photo_job(bob, PhotoJob.State.QUEUED)
    profile_pointing_at(alice, current, "cloudflare_images")
    for job in (current, replaced, in_flight):
        for name in job_names(job):
            cf_upload(name)
    cf_upload("elsewhere/not-an-avatar.webp")

    report = images_cleanup(dry_run=False, source="test")

    assert set(fake_cf.images) == {
        *job_names(current),
        *job_names(in_flight),
        "elsewhere/not-an-avatar.webp",
    }
    assert report.counts["deleted images"] == 2
    assert set(DeletionRecord.objects.values_list("where", flat=True)) == {"cloudflare_images"}


def test_cloudflare_image_younger_than_grace_is_kept(alice, fake_cf, settings):
    settings.CLEANUP_GRACE_SECONDS = 3600
    [name, _] = job_names(photo_job(alice))
    cf_upload(name)

    report = images_cleanup(dry_run=False, source="test")

    assert name in fake_cf.images
    assert report.counts["kept: in grace period"] == 1


# -- uploads ---------------------------------------------------------------------------


def backdate(job: PhotoJob, **ages: timedelta) -> None:
    now = timezone.now()
    PhotoJob.objects.filter(pk=job.pk).update(**{f: now - age for f, age in ages.items()})


@pytest.fixture
def uploads(alice, bob, settings):
    settings.CLEANUP_ABANDONED_HOURS = 24
    settings.CLEANUP_UPLOAD_RETENTION_DAYS = 30
    jobs = {
        "abandoned": photo_job(alice, PhotoJob.State.QUEUED, original=b"x" * 10),
        "stuck": photo_job(bob, PhotoJob.State.PROCESSING, original=b"y" * 5),
        "waiting": photo_job(bob, PhotoJob.State.QUEUED, original=b"z"),
        "old_done": photo_job(alice),
        "old_failed": photo_job(bob, PhotoJob.State.FAILED),
        "old_current": photo_job(bob),
        "recent_failed": photo_job(alice, PhotoJob.State.FAILED),
        "leaky": photo_job(alice, original=b"leftover"),
    }
    backdate(jobs["abandoned"], created_at=timedelta(days=2))
    backdate(jobs["stuck"], created_at=timedelta(hours=25))
    backdate(jobs["waiting"], created_at=timedelta(hours=1))
    for key in ("old_done", "old_failed", "old_current"):
        backdate(jobs[key], created_at=timedelta(days=41), finished_at=timedelta(days=40))
    backdate(jobs["recent_failed"], created_at=timedelta(days=2), finished_at=timedelta(days=2))
    Profile.objects.create(user=bob, photo_job=jobs["old_current"])
    return jobs


def states(jobs):
    found = {job.pk: job for job in PhotoJob.objects.all()}
    return {
        key: (found[job.pk].state, found[job.pk].original is not None) if job.pk in found else None
        for key, job in jobs.items()
    }


def test_upload_cleanup_fails_abandoned_jobs_and_deletes_old_finished_ones(uploads):
    report = uploads_cleanup(dry_run=False, source="test")

    assert states(uploads) == {
        "abandoned": ("failed", False),
        "stuck": ("failed", False),
        "waiting": ("queued", True),
        "old_done": None,
        "old_failed": None,
        "old_current": ("done", False),  # a profile's photo comes from it
        "recent_failed": ("failed", False),
        "leaky": ("done", False),
    }
    abandoned = PhotoJob.objects.get(pk=uploads["abandoned"].pk)
    assert abandoned.error == ABANDONED_REASON
    assert abandoned.detail.startswith("abandoned: still queued")
    assert report.counts == {
        "failed abandoned jobs": 2,
        "deleted staged originals": 3,
        "deleted photo jobs": 2,
    }
    assert DeletionRecord.objects.filter(where="database", dry_run=False).count() == 5


def test_upload_cleanup_dry_run_changes_nothing(uploads):
    before = states(uploads)
    out = io.StringIO()
    call_command("cleanup_uploads", "--dry-run", stdout=out)

    assert states(uploads) == before
    printed = out.getvalue()
    assert f"would delete photo job {uploads['old_done'].pk}" in printed
    assert f"staged original of photo job {uploads['abandoned'].pk}" in printed
    assert "would fail abandoned jobs: 2" in printed
    assert set(DeletionRecord.objects.values_list("dry_run", flat=True)) == {True}


# -- the queue -------------------------------------------------------------------------


def queue_rows(sql, params=()):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def queue_write(sql, params):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


@pytest.fixture
def queue_junk(clean_queue, settings):
    settings.CLEANUP_REJECTED_RETENTION_DAYS = 14
    settings.CLEANUP_RUN_RETENTION_DAYS = 30
    for message_id, days, state in [
        ("00000000-0000-0000-0000-0000000000a1", 20, "rejected"),
        ("00000000-0000-0000-0000-0000000000a2", 3, "rejected"),
        ("00000000-0000-0000-0000-0000000000a3", 20, "queued"),
    ]:
        queue_write(
            """INSERT INTO dramatiq.queue (message_id, queue_name, "state", mtime, message)
            VALUES (%s, 'photos', %s, now() - make_interval(days => %s),
                    '{"actor_name": "photo_process"}'::jsonb)""",
            [message_id, state, days],
        )
    for worker_id, seconds in [
        ("00000000-0000-0000-0000-0000000000b1", 3600),
        ("00000000-0000-0000-0000-0000000000b2", 1),
    ]:
        queue_write(
            "INSERT INTO dramatiq.worker VALUES (%s, now() - make_interval(secs => %s))",
            [worker_id, seconds],
        )
    now = timezone.now()
    # Only old runs, one never executed: the latest must stay for catch-up.
    for days, state in ((90, "queued"), (60, "done"), (45, "done")):
        ScheduledRun.objects.create(
            schedule="purge_queue", tick=now - timedelta(days=days), state=state
        )
    for days in (40, 35, 1):
        ScheduledRun.objects.create(
            schedule="cleanup_images", tick=now - timedelta(days=days), state="done"
        )
    ScheduledRun.objects.create(
        schedule="cleanup_uploads", tick=now - timedelta(days=50), state="queued"
    )


def test_queue_purge_deletes_old_rejected_messages_dead_workers_and_old_runs(queue_junk):
    dry = queue_purge(dry_run=True, source="test")
    assert len(queue_rows("SELECT 1 FROM dramatiq.queue")) == 3
    report = queue_purge(dry_run=False, source="test")

    assert queue_rows("SELECT message_id::text FROM dramatiq.queue ORDER BY 1") == [
        ("00000000-0000-0000-0000-0000000000a2",),
        ("00000000-0000-0000-0000-0000000000a3",),
    ]
    assert queue_rows("SELECT worker_id::text FROM dramatiq.worker") == [
        ("00000000-0000-0000-0000-0000000000b2",)
    ]
    left = sorted(ScheduledRun.objects.values_list("schedule", "state"))
    assert left == [
        ("cleanup_images", "done"),
        ("cleanup_uploads", "queued"),
        ("purge_queue", "done"),
    ]
    expected = {
        "deleted rejected messages": 1,
        "deleted dead workers": 1,
        "deleted scheduled-run groups": 2,
        "scheduled runs": 4,
    }
    assert report.counts == expected
    assert dry.counts == {k.replace("deleted", "would delete"): v for k, v in expected.items()}
    assert DeletionRecord.objects.filter(where="dramatiq.queue", dry_run=False).get().what == (
        "message 00000000-0000-0000-0000-0000000000a1 (photo_process on queue photos)"
    )
