"""What is in the job queue, and the two fixes an operator may apply to failed jobs.

A message row is *waiting* (due, not yet claimed), *delayed* (a retry or a
delayed send whose time has not come; dramatiq keeps these in "<queue>.DQ"),
*running* (claimed by a worker) or *failed* (rejected: retries exhausted or a
permanent error; dramatiq stores the last traceback in the message).

Retrying a failed job sends the same message again as if new: same id and
arguments, state queued and due now, ``retries`` back to 0 (the actor gets its
whole retry budget, as the operator has presumably fixed the cause), traceback
dropped (a new failure writes a new one), ``operator_retries`` incremented.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
from dataclasses import dataclass

import dramatiq
from django.db import connection, transaction

import actors

logger = logging.getLogger(__name__)

STATES = ("waiting", "delayed", "running", "failed")


@dataclass(frozen=True)
class QueueStats:
    name: str
    waiting: int = 0
    delayed: int = 0
    running: int = 0
    failed: int = 0
    oldest_waiting_seconds: float | None = None


def known_queues() -> set[str]:
    """Queues of every actor in the ``actors`` package, so idle queues report zeros."""
    for info in pkgutil.iter_modules(actors.__path__, prefix="actors."):
        importlib.import_module(info.name)
    return set(dramatiq.get_broker().get_declared_queues())


_STATS_SQL = r"""
SELECT regexp_replace(queue_name, '\.DQ$', '') AS queue,
       count(*) FILTER (WHERE state = 'queued' AND available_at <= now()
                        AND queue_name NOT LIKE '%%.DQ'),
       count(*) FILTER (WHERE state <> 'rejected'
                        AND (queue_name LIKE '%%.DQ' OR available_at > now())),
       count(*) FILTER (WHERE state = 'consumed' AND queue_name NOT LIKE '%%.DQ'),
       count(*) FILTER (WHERE state = 'rejected'),
       EXTRACT(EPOCH FROM now() - min(available_at) FILTER (
           WHERE state = 'queued' AND available_at <= now() AND queue_name NOT LIKE '%%.DQ'))
FROM dramatiq.queue
GROUP BY 1
"""


def queue_stats() -> list[QueueStats]:
    with connection.cursor() as cursor:
        cursor.execute(_STATS_SQL, [])
        rows = cursor.fetchall()
    stats = {
        name: QueueStats(name, waiting, delayed, running, failed, _float(age))
        for name, waiting, delayed, running, failed, age in rows
    }
    for name in known_queues() - stats.keys():
        stats[name] = QueueStats(name)
    return [stats[name] for name in sorted(stats)]


def _float(value: object) -> float | None:
    return None if value is None else float(str(value))


_RETRY_SQL = r"""
WITH retried AS (
    UPDATE dramatiq.queue
    SET state = 'queued',
        queue_name = regexp_replace(queue_name, '\.DQ$', ''),
        available_at = now(), worker_id = NULL, consumed_at = NULL, mtime = now(),
        message = message
            || jsonb_build_object(
                'queue_name', regexp_replace(queue_name, '\.DQ$', ''),
                'message_timestamp', (EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::bigint)
            || jsonb_build_object('options',
                (COALESCE(message -> 'options', '{}'::jsonb) - 'traceback' - 'eta')
                || jsonb_build_object(
                    'retries', 0,
                    'operator_retries',
                    COALESCE((message -> 'options' ->> 'operator_retries')::int, 0) + 1))
    WHERE message_id = ANY(%s::uuid[]) AND state = 'rejected'
    RETURNING queue_name
)
SELECT pg_notify('dramatiq.' || queue_name || '.enqueue', '') FROM retried
"""


def failed_jobs_retry(*, message_ids: list[str]) -> int:
    """Send failed jobs again (see the module docstring); others are left alone."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_RETRY_SQL, [message_ids])
        retried = len(cursor.fetchall())
    logger.info("retried %d failed job(s) of %d selected", retried, len(message_ids))
    return retried


def failed_jobs_discard(*, message_ids: list[str]) -> int:
    """Delete failed jobs for good; waiting or running jobs are never touched."""
    with connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM dramatiq.queue WHERE message_id = ANY(%s::uuid[]) AND state = 'rejected'",
            [message_ids],
        )
        discarded = int(cursor.rowcount)
    logger.info("discarded %d failed job(s) of %d selected", discarded, len(message_ids))
    return discarded
