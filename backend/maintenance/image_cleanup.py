"""Delete stored images that no profile references and no pending photo job will.

An image is deleted when it is older than the grace period and neither a
profile nor a queued or processing job names it. The storage is listed first
and the database read after, and each deletion checks again in a transaction
that locks the image's job row: the profile can only come to point at a job's
images while that job is pending, under that lock (profiles.services).
"""

from __future__ import annotations

import logging
import posixpath
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol, runtime_checkable

from django.conf import settings
from django.core.files.storage import Storage
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from backend.maintenance.locks import job_lock
from backend.maintenance.report import Report, deletion_record
from backend.media.storage import (
    StorageRefused,
    StorageUnavailable,
    photo_storage,
    photo_storage_alias,
)
from backend.profiles import imaging
from backend.profiles.models import PhotoJob, Profile

logger = logging.getLogger(__name__)

JOB = "cleanup_images"
PREFIX = "avatars"
PENDING = (PhotoJob.State.QUEUED, PhotoJob.State.PROCESSING)


@runtime_checkable
class ImageLister(Protocol):
    """A storage that lists its images with their upload times in one pass (Cloudflare)."""

    def list_images(self, prefix: str) -> list[tuple[str, datetime | None]]: ...


@dataclass(frozen=True)
class StoredImage:
    alias: str
    name: str
    # None when the store does not say: such an image is never deleted.
    stored_at: datetime | None


def images_cleanup(*, dry_run: bool, source: str) -> Report:
    """Delete (or, dry, list) orphaned images in every storage photos live in."""
    report = Report(JOB, dry_run, source)
    grace = timedelta(seconds=settings.CLEANUP_GRACE_SECONDS)
    failures: list[Exception] = []
    with job_lock(JOB):
        for alias in _storage_aliases():
            try:
                for image in image_candidates(alias=alias, grace=grace, report=report):
                    image_delete_if_orphan(image=image, grace=grace, report=report)
            except (StorageUnavailable, StorageRefused) as exc:
                # One store being down must not stop the others being cleaned.
                logger.warning("%s: storage %s failed: %s", JOB, alias, exc)
                report.count("storage errors")
                failures.append(exc)
    logger.info("%s", report.summary())
    if failures:
        raise failures[0]
    return report


def image_candidates(*, alias: str, grace: timedelta, report: Report) -> list[StoredImage]:
    """Images in ``alias`` that look orphaned, from one listing and one database read."""
    listed = list(_stored_images(alias))
    report.count("images listed", len(listed))
    # Read after the listing: whatever may refer to a listed image exists by now.
    referenced = _referenced_names()
    pending_dirs = _pending_job_dirs()
    cutoff = timezone.now() - grace
    candidates = []
    for image in listed:
        if image.name in referenced:
            report.count("kept: referenced")
        elif posixpath.dirname(image.name) + "/" in pending_dirs:
            report.count("kept: pending job")
        elif image.stored_at is None or image.stored_at > cutoff:
            report.count("kept: in grace period")
        else:
            candidates.append(image)
    return candidates


def image_delete_if_orphan(*, image: StoredImage, grace: timedelta, report: Report) -> bool:
    """Check ``image`` again under its job's row lock, then delete it and audit the deletion."""
    storage = photo_storage(image.alias)
    with transaction.atomic():
        reason = _keep_reason(storage, image, grace)
        if reason:
            report.count(f"kept on re-check: {reason}")
            logger.info("%s: kept %s in %s: %s since listing", JOB, image.name, image.alias, reason)
            return False
        why = (
            f"no profile or queued/processing photo job refers to it; stored "
            f"{image.stored_at:%Y-%m-%d %H:%M:%S %Z}, past the {grace} grace period"
        )
        deletion_record(report=report, kind="images", what=image.name, where=image.alias, why=why)
        if not report.dry_run:
            storage.delete(image.name)
    return True


def _keep_reason(storage: Storage, image: StoredImage, grace: timedelta) -> str:
    job_id = _job_id(image.name)
    if job_id is not None:
        job = PhotoJob.objects.select_for_update().filter(pk=job_id).only("state").first()
        if job is not None and job.state in PENDING:
            return "pending job"
    if Profile.objects.filter(Q(photo_name=image.name) | Q(photo_thumb_name=image.name)).exists():
        return "referenced"
    stored_at = _stored_at_now(storage, image)
    if stored_at is None:
        return "gone"
    if stored_at > timezone.now() - grace:
        # A retried job may have rewritten a local file since the listing.
        return "in grace period"
    return ""


def _storage_aliases() -> list[str]:
    used = Profile.objects.exclude(photo_storage="").values_list("photo_storage", flat=True)
    return sorted({photo_storage_alias(), *used.distinct()})


def _stored_images(alias: str) -> Iterator[StoredImage]:
    storage = photo_storage(alias)
    if isinstance(storage, ImageLister):
        for name, stored_at in storage.list_images(PREFIX + "/"):
            yield StoredImage(alias, name, stored_at)
        return
    for name in _walk(storage, PREFIX):
        stored_at = _modified_time(storage, name)
        if stored_at is not None:
            yield StoredImage(alias, name, stored_at)


def _walk(storage: Storage, path: str) -> Iterator[str]:
    try:
        directories, files = storage.listdir(path)
    except FileNotFoundError:
        return
    for name in files:
        yield f"{path}/{name}"
    for directory in directories:
        yield from _walk(storage, f"{path}/{directory}")


def _modified_time(storage: Storage, name: str) -> datetime | None:
    try:
        return storage.get_modified_time(name).astimezone(UTC)
    except FileNotFoundError:
        return None  # deleted since the listing


def _stored_at_now(storage: Storage, image: StoredImage) -> datetime | None:
    if isinstance(storage, ImageLister):
        # An image id cannot be stored again without being deleted first.
        return image.stored_at
    return _modified_time(storage, image.name)


def _referenced_names() -> set[str]:
    names: set[str] = set()
    for photo, thumb in Profile.objects.values_list("photo_name", "photo_thumb_name"):
        names.update((photo, thumb))
    names.discard("")
    return names


def _pending_job_dirs() -> set[str]:
    """The directories pending jobs write to (``avatars/<user>/<job>/``)."""
    jobs = PhotoJob.objects.filter(state__in=PENDING).only("id", "user_id")
    size = imaging.SIZES[0]
    return {
        posixpath.dirname(job.output_name(size, imaging.OUTPUT_EXTENSION)) + "/" for job in jobs
    }


def _job_id(name: str) -> uuid.UUID | None:
    parts = name.split("/")
    if len(parts) != 4 or parts[0] != PREFIX:
        return None
    try:
        return uuid.UUID(parts[2])
    except ValueError:
        return None
