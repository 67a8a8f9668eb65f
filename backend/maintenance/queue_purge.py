"""Keep the queue's tables small: rejected messages, old scheduled runs, dead workers.

Acknowledged messages are deleted by the broker at once, and a worker's own
upkeep purges rejected messages after 30 days; this job applies our shorter
retention even when no worker has run lately.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone

from backend.maintenance.locks import job_lock
from backend.maintenance.models import ScheduledRun
from backend.maintenance.report import Report, deletion_record

logger = logging.getLogger(__name__)

JOB = "purge_queue"
# A worker row this many heartbeat TTLs old is long dead (the broker uses 5 too).
DEAD_WORKER_TTLS = 5


def queue_purge(*, dry_run: bool, source: str) -> Report:
    report = Report(JOB, dry_run, source)
    with job_lock(JOB):
        _rejected_messages_purge(report)
        _scheduled_runs_purge(report)
        _dead_workers_purge(report)
    logger.info("%s", report.summary())
    return report


def _rejected_messages_purge(report: Report) -> None:
    days = settings.CLEANUP_REJECTED_RETENTION_DAYS
    rows = _select(
        """SELECT message_id, queue_name, message->>'actor_name', mtime FROM dramatiq.queue
        WHERE "state" = 'rejected' AND mtime < now() - make_interval(days => %s)
        ORDER BY mtime""",
        [days],
    )
    for message_id, queue_name, actor_name, mtime in rows:
        with transaction.atomic():
            deletion_record(
                report=report,
                kind="rejected messages",
                what=f"message {message_id} ({actor_name} on queue {queue_name})",
                where="dramatiq.queue",
                why=f"rejected (dead-lettered) on {mtime:%Y-%m-%d %H:%M %Z}, "
                f"past the {days}-day retention",
            )
            if not report.dry_run:
                _execute(
                    """DELETE FROM dramatiq.queue WHERE message_id = %s AND "state" = 'rejected'""",
                    [message_id],
                )


def _scheduled_runs_purge(report: Report) -> None:
    """Delete runs past retention, keeping each schedule's latest (catch-up needs it)."""
    days = settings.CLEANUP_RUN_RETENTION_DAYS
    cutoff = timezone.now() - timedelta(days=days)
    latest = ScheduledRun.objects.values("schedule").annotate(last=Max("tick"))
    for row in latest.order_by("schedule"):
        old = ScheduledRun.objects.filter(
            schedule=row["schedule"], tick__lt=min(cutoff, row["last"])
        )
        count = old.count()
        if not count:
            continue
        with transaction.atomic():
            deletion_record(
                report=report,
                kind="scheduled-run groups",
                what=f"{count} scheduled runs of {row['schedule']}",
                where="database",
                why=f"runs with ticks before {cutoff:%Y-%m-%d %H:%M %Z}, "
                f"past the {days}-day retention",
            )
            if not report.dry_run:
                old.delete()
        report.count("scheduled runs", count)


def _dead_workers_purge(report: Report) -> None:
    ttl = float(settings.DRAMATIQ_BROKER["OPTIONS"]["heartbeat_ttl"])  # type: ignore[index]
    seconds = ttl * DEAD_WORKER_TTLS
    rows = _select(
        """SELECT worker_id, heartbeat_at FROM dramatiq.worker
        WHERE heartbeat_at < now() - make_interval(secs => %s) ORDER BY heartbeat_at""",
        [seconds],
    )
    for worker_id, heartbeat_at in rows:
        with transaction.atomic():
            deletion_record(
                report=report,
                kind="dead workers",
                what=f"worker {worker_id}",
                where="dramatiq.worker",
                why=f"last heartbeat {heartbeat_at:%Y-%m-%d %H:%M:%S %Z}, over {seconds:g} s ago; "
                "the broker requeues whatever it had claimed",
            )
            if not report.dry_run:
                _execute("DELETE FROM dramatiq.worker WHERE worker_id = %s", [worker_id])


def _select(sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return list(cursor.fetchall())


def _execute(sql: str, params: list[Any]) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
