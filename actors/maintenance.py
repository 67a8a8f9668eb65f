"""Maintenance actors: periodic cleanups enqueued by ``runperiodiq``, one per schedule.

Each takes the id of its scheduled run (None when sent by hand) and calls the
service its management command calls. They have their own queue so that a
photo backlog never delays them behind it for long, and no late-skip: a late
run still runs, unless a later-started run has done its work (runs.py).
A transient failure is retried for a few minutes; a storage refusal (bad
credentials) is not. Either way the next tick tries again.
"""

from __future__ import annotations

from collections.abc import Callable

import dramatiq

from backend.maintenance import runs
from backend.maintenance.image_cleanup import images_cleanup
from backend.maintenance.queue_purge import queue_purge
from backend.maintenance.report import Report
from backend.maintenance.upload_cleanup import uploads_cleanup
from backend.media.storage import StorageRefused


@dramatiq.actor(
    queue_name="maintenance",
    max_retries=3,
    min_backoff=30_000,
    max_backoff=600_000,
    time_limit=30 * 60_000,
    throws=(StorageRefused,),
)
def cleanup_images(run_id: int | None = None) -> None:
    _run(run_id, lambda source: images_cleanup(dry_run=False, source=source))


@dramatiq.actor(
    queue_name="maintenance",
    max_retries=3,
    min_backoff=30_000,
    max_backoff=600_000,
    time_limit=10 * 60_000,
)
def cleanup_uploads(run_id: int | None = None) -> None:
    _run(run_id, lambda source: uploads_cleanup(dry_run=False, source=source))


@dramatiq.actor(
    queue_name="maintenance",
    max_retries=3,
    min_backoff=30_000,
    max_backoff=600_000,
    time_limit=10 * 60_000,
)
def purge_queue(run_id: int | None = None) -> None:
    _run(run_id, lambda source: queue_purge(dry_run=False, source=source))


def _run(run_id: int | None, work: Callable[[str], Report]) -> None:
    if run_id is None:
        work("actor sent by hand")
    else:
        runs.scheduled_run_execute(run_id=run_id, work=work)
