"""The bench job as an actor on this project's broker (loaded after django_dramatiq.setup)."""

from __future__ import annotations

import dramatiq

from bench.queues.protocol import job_body


@dramatiq.actor(queue_name="bench", max_retries=0)
def bench_job(seq: int, sleep_ms: int) -> None:
    job_body(seq, sleep_ms)
