"""Photo actors: process a staged upload, delete replaced files."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import dramatiq

from backend.media.storage import StorageUnavailable
from backend.profiles import services

# Exponential backoff from 1 s, capped at 5 minutes: 8 retries span about 12
# minutes (1+2+4+...+128 s plus jitter) before the job is marked failed. A
# Cloudflare 429 waits at least its Retry-After instead.
PHOTO_MAX_RETRIES = 8


@dramatiq.actor(
    queue_name="photos",
    max_retries=PHOTO_MAX_RETRIES,
    min_backoff=1_000,
    max_backoff=300_000,
    time_limit=180_000,
    on_retry_exhausted="photo_give_up",
)
def photo_process(job_id: str) -> None:
    with _honour_retry_after():
        services.photo_job_process(job_id=job_id)


@dramatiq.actor(queue_name="photos", max_retries=20, min_backoff=1_000, max_backoff=60_000)
def photo_give_up(message: dict[str, Any], retry_info: dict[str, Any]) -> None:
    job_id = str(message["args"][0])
    services.photo_job_fail(
        job_id=job_id,
        reason="We could not store your photo just now. Please try again later.",
        detail=f"gave up after {retry_info.get('retries')} attempts",
    )


@dramatiq.actor(queue_name="photos", max_retries=12, min_backoff=5_000, max_backoff=600_000)
def photo_files_delete(storage: str, names: list[str]) -> None:
    with _honour_retry_after():
        services.photo_files_delete(storage=storage, names=names)


@contextmanager
def _honour_retry_after() -> Iterator[None]:
    """Turn a rate limit's Retry-After into the delay of the next attempt."""
    try:
        yield
    except StorageUnavailable as exc:
        if exc.retry_after is None:
            raise
        raise dramatiq.Retry(str(exc), delay=int(exc.retry_after * 1000) + 250) from exc
