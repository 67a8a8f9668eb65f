"""Fail abandoned photo uploads, drop staged originals, delete old finished jobs.

A job still queued or processing long after every retry would have ended
(CLEANUP_ABANDONED_HOURS) is abandoned: it is marked failed with a reason the
user reads, which also clears its staged bytes. Finished jobs are deleted after
CLEANUP_UPLOAD_RETENTION_DAYS, except the one a profile's photo comes from;
their images, if unreferenced, go with the next image cleanup.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.db.models.functions import Coalesce, Length
from django.utils import timezone

from backend.maintenance.locks import job_lock
from backend.maintenance.report import Report, deletion_record
from backend.profiles import services as photo_services
from backend.profiles.models import PhotoJob, Profile

logger = logging.getLogger(__name__)

JOB = "cleanup_uploads"
PENDING = (PhotoJob.State.QUEUED, PhotoJob.State.PROCESSING)
ABANDONED_REASON = "This upload was never processed. Please upload the photo again."


def uploads_cleanup(*, dry_run: bool, source: str) -> Report:
    report = Report(JOB, dry_run, source)
    with job_lock(JOB):
        _abandoned_fail(report)
        _originals_clear(report)
        _finished_delete(report)
    logger.info("%s", report.summary())
    return report


def _abandoned_fail(report: Report) -> None:
    hours = settings.CLEANUP_ABANDONED_HOURS
    cutoff = timezone.now() - timedelta(hours=hours)
    jobs = PhotoJob.objects.filter(state__in=PENDING, created_at__lt=cutoff).annotate(
        staged=Coalesce(Length("original"), 0)
    )
    for job in jobs.only("id", "user_id", "state", "created_at").order_by("created_at"):
        detail = (
            f"abandoned: still {job.state} on {timezone.now():%Y-%m-%d %H:%M %Z}, "
            f"created {job.created_at:%Y-%m-%d %H:%M %Z} (over {hours} h ago)"
        )
        with transaction.atomic():
            # Under the row lock the job cannot finish meanwhile.
            locked = PhotoJob.objects.select_for_update().filter(pk=job.pk, state__in=PENDING)
            if not locked.exists():
                continue
            deletion_record(
                report=report,
                kind="staged originals",
                what=f"staged original of photo job {job.pk} of user {job.user_id} "
                f"({job.staged} bytes)",
                where="database",
                why=f"marked failed: {detail}",
            )
            if not report.dry_run:
                photo_services.photo_job_fail(
                    job_id=str(job.pk), reason=ABANDONED_REASON, detail=detail
                )
        report.count("would fail abandoned jobs" if report.dry_run else "failed abandoned jobs")


def _originals_clear(report: Report) -> None:
    """Finished jobs normally drop their bytes; this catches any that did not."""
    jobs = PhotoJob.objects.filter(state__in=PhotoJob.FINISHED, original__isnull=False)
    for job in jobs.annotate(staged=Length("original")).only("id", "user_id", "state"):
        with transaction.atomic():
            deletion_record(
                report=report,
                kind="staged originals",
                what=f"staged original of photo job {job.pk} of user {job.user_id} "
                f"({job.staged} bytes)",
                where="database",
                why=f"the job is {job.state}; its upload is no longer needed",
            )
            if not report.dry_run:
                PhotoJob.objects.filter(pk=job.pk).update(original=None)


def _finished_delete(report: Report) -> None:
    days = settings.CLEANUP_UPLOAD_RETENTION_DAYS
    cutoff = timezone.now() - timedelta(days=days)
    current = Profile.objects.filter(photo_job__isnull=False).values("photo_job_id")
    jobs = (
        PhotoJob.objects.filter(state__in=PhotoJob.FINISHED)
        .filter(Q(finished_at__lt=cutoff) | Q(finished_at__isnull=True, created_at__lt=cutoff))
        .exclude(pk__in=current)
        .only("id", "user_id", "state", "created_at", "finished_at")
        .order_by("created_at")
    )
    for job in jobs:
        ended = job.finished_at or job.created_at
        with transaction.atomic():
            deletion_record(
                report=report,
                kind="photo jobs",
                what=f"photo job {job.pk} of user {job.user_id} ({job.state})",
                where="database",
                why=f"{job.state} on {ended:%Y-%m-%d %H:%M %Z}, past the {days}-day retention",
            )
            if not report.dry_run:
                PhotoJob.objects.filter(pk=job.pk).delete()
