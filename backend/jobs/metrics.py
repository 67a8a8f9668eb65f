"""Job counters for /metrics, kept in Postgres so every process's jobs add up.

Counts are added up in memory and written at most once every
``JOB_COUNTERS_FLUSH_SECONDS`` per process, as one multi-row ``INSERT … ON
CONFLICT DO UPDATE`` on ``jobs_jobcounter``: a statement per job on the same few
rows halved the drain rate (docs/benchmarks.md). A worker writes what is left
when it shuts down; a process killed outright loses at most that interval of
counts. ``0`` writes each count at once. Outcomes are read at ``ack``/``nack``,
after the Retries middleware has decided: an attempt that raised and is acked
was retried, one that is nacked failed for good. Durations are counted into
fixed histogram buckets so a scrape only sums rows. A counter that cannot be
written is kept for the next flush and logged: metrics never fail a job or a
request.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from collections import Counter
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from dramatiq.common import q_name
from dramatiq.middleware import Middleware

logger = logging.getLogger(__name__)

# Upper bounds in seconds; photo uploads to Cloudflare take 6-8 s.
DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 180.0)
INF = "+Inf"
# The flushing thread closes its connection after this long without counts.
IDLE_CLOSE_SECONDS = 30.0

Key = tuple[str, str, str]
Row = tuple[str, str, str, int]


def duration_bucket(seconds: float) -> str:
    for bound in DURATION_BUCKETS:
        if seconds <= bound:
            return str(bound)
    return INF


def counters_sql(count: int) -> str:
    from backend.jobs.models import JobCounter

    table = JobCounter._meta.db_table
    values = ", ".join(["(%s, %s, %s, %s)"] * count)
    return (
        f"INSERT INTO {table} (actor, metric, label, value) VALUES {values} "  # noqa: S608
        f"ON CONFLICT (actor, metric, label) DO UPDATE SET value = {table}.value + EXCLUDED.value"
    )


def counters_write(rows: list[Row]) -> None:
    """Add rows to the counters on this thread's Django connection."""
    # Sorted, so that concurrent writers lock counter rows in the same order
    # and cannot deadlock.
    rows = sorted(rows)
    with connection.cursor() as cursor:
        cursor.execute(counters_sql(len(rows)), [value for row in rows for value in row])


class CounterBuffer:
    """This process's counts not yet written, and the thread that writes them."""

    def __init__(self, *, idle_close_seconds: float = IDLE_CLOSE_SECONDS) -> None:
        self.idle_close_seconds = idle_close_seconds
        self._reset()
        os.register_at_fork(after_in_child=self._reset)
        atexit.register(self.flush)

    def _reset(self) -> None:
        # Also in a forked child: the parent's lock, counts and thread are not its own.
        self._lock = threading.Lock()
        # Held across a whole flush, so that a shutdown flush waits for the
        # thread's write in progress instead of returning before it lands.
        self._flush_lock = threading.Lock()
        self._pending: Counter[Key] = Counter()
        self._dirty = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, rows: list[Row]) -> None:
        interval = float(getattr(settings, "JOB_COUNTERS_FLUSH_SECONDS", 1.0))
        with self._lock:
            for actor, metric, label, value in rows:
                self._pending[(actor, metric, label)] += value
            if interval > 0 and self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, args=(interval,), name="job-counters", daemon=True
                )
                self._thread.start()
        if interval > 0:
            self._dirty.set()
        else:
            self.flush()

    def flush(self) -> bool:
        """Write every pending count now, on the calling thread's connection.

        Returns False when the write failed; the counts are then kept for the
        next flush.
        """
        with self._flush_lock:
            with self._lock:
                pending, self._pending = self._pending, Counter()
                self._dirty.clear()
            if not pending:
                return True
            try:
                counters_write([(*key, value) for key, value in pending.items()])
            except Exception:  # a closed or broken connection too, not only DatabaseError
                logger.warning("could not write %d job counters; keeping them", len(pending))
                connection.close()
                with self._lock:
                    self._pending.update(pending)
                    self._dirty.set()
                return False
            return True

    def _run(self, interval: float) -> None:
        failures = 0
        while True:
            if not self._dirty.wait(self.idle_close_seconds):
                connection.close()
                continue
            # Gather the counts of a whole interval; after failed writes wait
            # longer, up to the idle timeout, instead of retrying every interval.
            time.sleep(min(interval * 2**failures, max(interval, self.idle_close_seconds)))
            try:
                ok = self.flush()
            except Exception:  # the thread must outlive any surprise
                logger.exception("job counter flush failed")
                ok = False
            failures = 0 if ok else min(failures + 1, 10)


COUNTERS = CounterBuffer()


def counters_add(rows: list[Row]) -> None:
    """Count rows; inside a transaction, only once it commits."""
    transaction.on_commit(lambda: COUNTERS.add(rows))


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
        counters_add([(message.actor_name, "enqueued", "", 1)])

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
        COUNTERS.add(rows)

    def after_worker_shutdown(self, broker: Any, worker: Any) -> None:
        COUNTERS.flush()
