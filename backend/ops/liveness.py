"""Are workers and the scheduler alive? The contract behind ``checkliveness``.

Workers: every worker process upserts its row in ``dramatiq.worker`` each
DRAMATIQ_HEARTBEAT_SECONDS; one whose row is older than
DRAMATIQ_HEARTBEAT_TTL_SECONDS is dead (the broker then requeues its jobs).

Scheduler: the leading ``runperiodiq`` process holds the session advisory lock
``(LOCK_CLASS, LOCK_ID)`` of backend/maintenance/leader.py on its own connection
for as long as it leads; standbys keep trying. The key is imported from there,
so the probe and the scheduler cannot disagree on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connection

from backend.maintenance.leader import LOCK_CLASS, LOCK_ID


@dataclass(frozen=True)
class WorkerCounts:
    live: int
    dead: int
    freshest_age: float | None  # seconds since the newest heartbeat


def heartbeat_ttl_seconds() -> float:
    broker: dict[str, Any] = settings.DRAMATIQ_BROKER
    return float(broker["OPTIONS"]["heartbeat_ttl"])


def worker_counts(*, ttl: float | None = None) -> WorkerCounts:
    ttl = heartbeat_ttl_seconds() if ttl is None else ttl
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT count(*) FILTER (WHERE heartbeat_at > now() - make_interval(secs => %s)),
                   count(*) FILTER (WHERE heartbeat_at <= now() - make_interval(secs => %s)),
                   EXTRACT(EPOCH FROM now() - max(heartbeat_at))
            FROM dramatiq.worker
            """,
            [ttl, ttl],
        )
        live, dead, age = cursor.fetchone()
    return WorkerCounts(live=live, dead=dead, freshest_age=None if age is None else float(age))


def scheduler_leader_present() -> bool:
    """Whether some session holds the scheduler's lock in this database.

    Read from pg_locks rather than by trying the lock, so a probe can never
    take leadership away from a standby. A two-part key (int4, int4) appears
    as classid, objid and objsubid = 2.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT EXISTS (
                SELECT 1 FROM pg_locks
                WHERE locktype = 'advisory' AND granted
                  AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
                  AND classid::bigint = %s AND objid::bigint = %s AND objsubid = 2
            )
            """,
            [LOCK_CLASS, LOCK_ID],
        )
        (present,) = cursor.fetchone()
    return bool(present)
