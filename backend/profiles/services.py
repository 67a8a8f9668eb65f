"""Profile and photo services: the one place where photo business logic lives.

Views, actors, admin actions and commands call these functions; none of them
touches the models' photo fields directly.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import UploadedFile
from django.db import connection, transaction
from django.utils import timezone
from psycopg import Cursor, sql

from backend.media.storage import StorageRefused, photo_storage, photo_storage_alias
from backend.profiles import imaging
from backend.profiles.events import photo_job_notify
from backend.profiles.models import PhotoJob, Profile

logger = logging.getLogger(__name__)


# Started attempts, whatever ended them (errors, retries, dead workers).
PHOTO_MAX_ATTEMPTS = 12

# Renders at once in one worker process. A render holds the decoded image (up to
# about 100 MB for a 24 MP PNG) for a fraction of a second; the store that
# follows holds seconds but only the small WebP files. Bounding renders bounds a
# worker's memory whatever its thread count (docs/benchmarks.md, Image pipeline).
# Made on first use: settings are not read at import time.
_render_slots: threading.BoundedSemaphore | None = None
_render_slots_lock = threading.Lock()


def _render_slot() -> threading.BoundedSemaphore:
    global _render_slots  # one bound per process
    with _render_slots_lock:
        if _render_slots is None:
            _render_slots = threading.BoundedSemaphore(settings.PHOTO_RENDERS_AT_ONCE)
        return _render_slots


class PhotoRejected(ValueError):
    """The upload is not acceptable; the message is for the user."""


def profile_get(*, user: AbstractBaseUser) -> Profile:
    profile, _ = Profile.objects.get_or_create(user_id=user.pk)
    return profile


def profile_update(*, user: AbstractBaseUser, display_name: str, bio: str) -> None:
    """Write only the text fields, so a photo saved meanwhile by a worker survives."""
    profile_get(user=user)
    Profile.objects.filter(user_id=user.pk).update(
        display_name=display_name, bio=bio, updated_at=timezone.now()
    )


def photo_job_create(*, user: AbstractBaseUser, upload: UploadedFile[bytes]) -> PhotoJob:
    """Check the upload, stage it and enqueue its processing in one transaction."""
    if upload.size is not None and upload.size > imaging.MAX_BYTES:
        raise PhotoRejected("The photo is larger than 10 MB.")
    data = upload.read(imaging.MAX_BYTES + 1)
    try:
        facts = imaging.image_inspect(data)
    except imaging.InvalidImage as exc:
        raise PhotoRejected(str(exc)) from None
    profile_get(user=user)
    with transaction.atomic():
        job = PhotoJob.objects.create(
            user_id=user.pk, original_format=facts.format, original_bytes=len(data)
        )
        message = _enqueue_processing(job)
        photo_job_notify(job)
        _original_stage(job, data, message.message_id)
    logger.info(
        "photo job %s queued for user %s (%s, %d bytes)", job.pk, user.pk, facts.format, len(data)
    )
    return job


def _original_stage(job: PhotoJob, data: bytes, message_id: str) -> None:
    """Write the upload's bytes into the job row, as a binary parameter.

    Django binds parameters client-side: 2 MB of bytea would become 4 MB of hex
    in the SQL text (48 ms per upload, 27 of them the request's CPU, against
    10 ms this way). Same connection, so same transaction; errors come out as
    Django's, as from any other query.
    """
    if not connection.in_atomic_block:
        raise RuntimeError("the original is staged in the job row's transaction")
    table = sql.Identifier(PhotoJob._meta.db_table)
    statement = sql.SQL("UPDATE {} SET original = %b, message_id = %s WHERE id = %s")
    connection.validate_no_broken_transaction()
    with connection.wrap_database_errors, Cursor(connection.connection) as cursor:
        cursor.execute(statement.format(table), (data, message_id, job.pk))
    job.message_id = message_id


def _enqueue_processing(job: PhotoJob):  # type: ignore[no-untyped-def]
    # Imported here because actors import this module.
    from actors.photos import photo_process

    return photo_process.send(str(job.pk))


@dataclass(frozen=True)
class _Outputs:
    storage: str
    photo: str
    thumb: str


def photo_job_process(*, job_id: str) -> None:
    """Render a staged upload, store it, point the profile at it, tidy up.

    Idempotent: a finished job is left alone, and a re-run writes the same names.
    StorageUnavailable propagates so the actor retries with backoff; a refusal
    or an undecodable image fails the job with a reason the user can read.
    """
    job = _photo_job_start(job_id)
    if job is None:
        return
    try:
        with _render_slot():
            renders = imaging.photo_render(bytes(job.original or b""))
    except imaging.InvalidImage as exc:
        photo_job_fail(job_id=job_id, reason=str(exc), detail=repr(exc.__cause__ or exc))
        return
    job.original = None  # up to 10 MB, not needed for the seconds the store takes
    stored: list[str] = []
    try:
        outputs = _photo_store(job, renders, stored)
    except StorageRefused as exc:
        photo_job_fail(
            job_id=job_id,
            reason=exc.user_message,
            detail=str(exc),
            leftovers=_Outputs(photo_storage_alias(), *[*stored, "", ""][:2]),
        )
        return
    _photo_attach(job_id, outputs)


def _photo_job_start(job_id: str) -> PhotoJob | None:
    with transaction.atomic():
        job = PhotoJob.objects.select_for_update().filter(pk=job_id).first()
        if job is None:
            logger.warning("photo job %s does not exist any more; nothing to do", job_id)
            return None
        if job.state in PhotoJob.FINISHED:
            logger.info("photo job %s already %s; nothing to do", job_id, job.state)
            return None
        if job.attempts >= PHOTO_MAX_ATTEMPTS:
            # Requeues after a worker died do not count as dramatiq retries, so
            # a photo that kills its worker would otherwise come back forever.
            _photo_job_finish(
                job,
                PhotoJob.State.FAILED,
                error="This photo could not be processed. Please try another one.",
                detail=f"gave up after {job.attempts} started attempts",
            )
            return None
        job.state = PhotoJob.State.PROCESSING
        job.attempts += 1
        job.started_at = job.started_at or timezone.now()
        job.save(update_fields=["state", "attempts", "started_at"])
        photo_job_notify(job)
    return job


def _photo_store(job: PhotoJob, renders: dict[int, bytes], stored: list[str]) -> _Outputs:
    alias = photo_storage_alias()
    storage = photo_storage(alias)

    def save(size: int) -> str:
        name = job.output_name(size, imaging.OUTPUT_EXTENSION)
        saved = storage.save(name, ContentFile(renders[size], name=name))
        stored.append(saved)
        return saved

    # All sizes at once: at Cloudflare every upload takes seconds.
    with ThreadPoolExecutor(max_workers=len(renders), thread_name_prefix="photo-store") as pool:
        futures = {size: pool.submit(save, size) for size in renders}
    names = {size: future.result() for size, future in futures.items()}
    large, small = imaging.SIZES
    return _Outputs(storage=alias, photo=names[large], thumb=names[small])


def _photo_attach(job_id: str, outputs: _Outputs) -> None:
    """Point the profile at the new photo and queue the replaced files' deletion.

    One transaction: the deletion message exists only once the profile points
    at the new photo, so a failure at any step leaves a working photo. Only the
    photo columns are written, under a row lock, so a display name edited
    meanwhile survives. An older job finishing after a newer one does not win:
    its own files are deleted instead.
    """
    with transaction.atomic():
        job = PhotoJob.objects.select_for_update().get(pk=job_id)
        profile = (
            Profile.objects.select_for_update(of=("self",))
            .select_related("photo_job")
            .filter(user_id=job.user_id)
            .first()
        )
        if job.state in PhotoJob.FINISHED:
            return
        if profile is None:
            _photo_job_finish(job, PhotoJob.State.FAILED, error="The profile no longer exists.")
            _enqueue_deletion(outputs)
            return
        _photo_job_finish(job, PhotoJob.State.DONE)
        current = profile.photo_job
        if current is not None and current.created_at > job.created_at:
            logger.info("photo job %s superseded by newer job %s", job.pk, current.pk)
            _enqueue_deletion(outputs)
            return
        previous = _Outputs(profile.photo_storage, profile.photo_name, profile.photo_thumb_name)
        Profile.objects.filter(pk=profile.pk).update(
            photo_storage=outputs.storage,
            photo_name=outputs.photo,
            photo_thumb_name=outputs.thumb,
            photo_job=job,
        )
        if previous.photo:
            _enqueue_deletion(previous)


def _enqueue_deletion(outputs: _Outputs) -> None:
    from actors.photos import photo_files_delete

    names = [name for name in (outputs.photo, outputs.thumb) if name]
    if names:
        photo_files_delete.send(outputs.storage, names)


def _photo_job_finish(job: PhotoJob, state: str, *, error: str = "", detail: str = "") -> None:
    job.state = state
    job.error = error
    job.detail = detail
    job.original = None
    job.finished_at = timezone.now()
    job.save(update_fields=["state", "error", "detail", "original", "finished_at"])
    photo_job_notify(job)


def photo_files_delete(*, storage: str, names: list[str]) -> None:
    """Delete stored photo files; already-missing files are fine (idempotent)."""
    backend = photo_storage(storage)
    for name in names:
        backend.delete(name)
        logger.info("deleted photo file %s from %s", name, storage)


def photo_job_fail(
    *, job_id: str, reason: str, detail: str = "", leftovers: _Outputs | None = None
) -> None:
    """Mark a job failed with a reason the user can read; the old photo stays."""
    with transaction.atomic():
        job = PhotoJob.objects.select_for_update().filter(pk=job_id).first()
        if job is None or job.state in PhotoJob.FINISHED:
            return
        _photo_job_finish(job, PhotoJob.State.FAILED, error=reason[:300], detail=detail)
        if leftovers is not None:
            _enqueue_deletion(leftovers)
    logger.warning("photo job %s failed: %s", job_id, reason)


def photo_job_latest(*, user: AbstractBaseUser) -> PhotoJob | None:
    return PhotoJob.objects.filter(user_id=user.pk).defer("original").first()


def photo_urls(*, profile: Profile) -> tuple[str, str] | None:
    """Delivery URLs of the current photo and thumbnail, built without any request."""
    if not profile.photo_name:
        return None
    storage = photo_storage(profile.photo_storage)
    return storage.url(profile.photo_name), storage.url(profile.photo_thumb_name)
