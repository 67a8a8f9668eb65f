"""Photo actors: process a staged upload in the background."""

from __future__ import annotations

from typing import Any

import dramatiq

from backend.profiles import services

# Retried for about 20 minutes with exponential backoff (1 s doubling, capped
# at 5 minutes) before the job is marked failed.
PHOTO_MAX_RETRIES = 8


@dramatiq.actor(
    queue_name="photos",
    max_retries=PHOTO_MAX_RETRIES,
    min_backoff=1_000,
    max_backoff=300_000,
    time_limit=120_000,
    on_retry_exhausted="photo_give_up",
)
def photo_process(job_id: str) -> None:
    services.photo_job_process(job_id=job_id)


@dramatiq.actor(queue_name="photos", max_retries=20, min_backoff=1_000, max_backoff=60_000)
def photo_give_up(message: dict[str, Any], retry_info: dict[str, Any]) -> None:
    job_id = str(message["args"][0])
    services.photo_job_fail(
        job_id=job_id,
        reason="We could not store your photo just now. Please try again later.",
        detail=f"gave up after {retry_info.get('retries')} attempts",
    )
