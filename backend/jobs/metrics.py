"""Job counters for /metrics, kept in Postgres so every process's jobs add up.

Each event costs one statement: a single (multi-row) ``INSERT … ON CONFLICT DO
UPDATE`` on ``jobs_jobcounter``. Outcomes are read at ``ack``/``nack``, after
the Retries middleware has decided: an attempt that raised and is acked was
retried, one that is nacked failed for good. Durations are counted into fixed
histogram buckets so a scrape only sums rows. A counter that cannot be written
is logged and dropped: metrics never fail a job or a request.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from django.db import DatabaseError, connection, transaction
from dramatiq.common import q_name
from dramatiq.middleware import Middleware

logger = logging.getLogger(__name__)

# Upper bounds in seconds; photo uploads to Cloudflare take 6-8 s.
DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 180.0)
INF = "+Inf"
POOL_WAIT_SECONDS = 5.0

Row = tuple[str, str, str, int]


def duration_bucket(seconds: float) -> str:
    for bound in DURATION_BUCKETS:
        if seconds <= bound:
            return str(bound)
    return INF


def counters_sql(rows: list[Row]) -> str:
    from backend.jobs.models import JobCounter

    table = JobCounter._meta.db_table
    values = ", ".join(["(%s, %s, %s, %s)"] * len(rows))
    # Rows always come in the same metric order, so concurrent upserts lock
    # counter rows in the same order and cannot deadlock.
    return (
        f"INSERT INTO {table} (actor, metric, label, value) VALUES {values} "  # noqa: S608
        f"ON CONFLICT (actor, metric, label) DO UPDATE SET value = {table}.value + EXCLUDED.value"
    )


def _params(rows: list[Row]) -> list[Any]:
    return [value for row in rows for value in row]


def counters_add_django(rows: list[Row]) -> None:
    """Add on Django's connection, after the surrounding transaction commits."""

    def write() -> None:
        try:
            with connection.cursor() as cursor:
                cursor.execute(counters_sql(rows), _params(rows))
        except DatabaseError:
            logger.warning("could not count %s", rows, exc_info=True)

    # Inside a transaction: count only if it commits, and hold no counter-row
    # lock for the rest of the caller's transaction.
    transaction.on_commit(write)


def counters_add_pool(pool: Any, rows: list[Row]) -> None:
    """Add on a connection of the broker's pool (workers: no reconnect per job)."""
    try:
        # Never hold a worker thread long for a metric: give up after a while.
        with pool.connection(timeout=POOL_WAIT_SECONDS) as conn:
            conn.execute(counters_sql(rows), _params(rows))
    except Exception:
        # psycopg and pool errors alike (the pool is closed at shutdown).
        logger.warning("could not count %s", rows, exc_info=True)


def _delayed(message: Any) -> bool:
    return bool(q_name(message.queue_name) != message.queue_name)


class JobMetricsMiddleware(Middleware):
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._started: dict[str, float] = {}
        # message id -> (outcome if acked, seconds run or None when skipped)
        self._finished: dict[str, tuple[str, float | None]] = {}

    def after_enqueue(self, broker: Any, message: Any, delay: int | None) -> None:
        # Count each new job once, when it becomes due: not the retry
        # re-enqueues (counted as outcome "retried") nor a delayed job's move
        # from "<queue>.DQ" (counted then, as it has no delay any more).
        if delay or message.options.get("retries") or _delayed(message):
            return
        counters_add_django([(message.actor_name, "enqueued", "", 1)])

    def before_process_message(self, broker: Any, message: Any) -> None:
        with self._lock:
            self._started[message.message_id] = time.monotonic()

    def after_process_message(
        self,
        broker: Any,
        message: Any,
        *,
        result: Any = None,
        exception: BaseException | None = None,
    ) -> None:
        with self._lock:
            started = self._started.pop(message.message_id, time.monotonic())
            outcome = "succeeded" if exception is None else "retried"
            self._finished[message.message_id] = (outcome, time.monotonic() - started)

    def after_skip_message(self, broker: Any, message: Any) -> None:
        with self._lock:
            self._started.pop(message.message_id, None)
            self._finished[message.message_id] = ("skipped", None)

    def after_ack(self, broker: Any, message: Any) -> None:
        if _delayed(message):
            # A due delayed message handed on to its queue under the same id:
            # not an outcome, and the attempt it leads to may already be running.
            return
        with self._lock:
            finished = self._finished.pop(message.message_id, None)
        if finished is not None:
            self._count(broker, message, *finished)

    def after_nack(self, broker: Any, message: Any) -> None:
        finished = None
        if not _delayed(message):
            with self._lock:
                finished = self._finished.pop(message.message_id, None)
        # Nothing stashed: rejected without running (an unknown actor).
        outcome, seconds = finished or ("failed", None)
        self._count(broker, message, "skipped" if outcome == "skipped" else "failed", seconds)

    def _count(self, broker: Any, message: Any, outcome: str, seconds: float | None) -> None:
        actor = message.actor_name
        rows: list[Row] = [(actor, "processed", outcome, 1)]
        if seconds is not None:
            rows.append((actor, "duration_bucket", duration_bucket(seconds), 1))
            rows.append((actor, "duration_ms_sum", "", round(seconds * 1000)))
        counters_add_pool(broker.pool, rows)
