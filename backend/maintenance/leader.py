"""Leader election among schedulers: a session advisory lock on a dedicated connection.

The leader is whichever scheduler's session holds the lock. Postgres frees it
the moment that session ends: at once when the process dies (its socket
closes), within about 20 s when its host vanishes (TCP keepalives below).
Standbys keep trying; the leader checks its session before every tick.
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any

import psycopg
from django.db import connections

# pg_try_advisory_lock(LOCK_CLASS, LOCK_ID); advisory locks are per database.
LOCK_CLASS = 7_420_501
LOCK_ID = 1
APPLICATION_NAME = "lagless-scheduler"

# Server side: notice a vanished leader host and end its session (and lock).
SERVER_KEEPALIVES = (
    "-c tcp_keepalives_idle=10 -c tcp_keepalives_interval=3 -c tcp_keepalives_count=3"
)


class LeadershipLost(Exception):
    """The lock's session is gone, so another scheduler may be leading now."""


class LeaderLock:
    def __init__(self) -> None:
        self._connection: psycopg.Connection[Any] | None = None

    def try_acquire(self) -> bool:
        """Take the lock if nobody holds it; psycopg errors mean the database is unreachable."""
        connection = self._connect()
        row = connection.execute(
            "SELECT pg_try_advisory_lock(%s, %s)", [LOCK_CLASS, LOCK_ID]
        ).fetchone()
        return bool(row and row[0])

    def clock(self) -> datetime:
        """The database's time, read on the lock's own session to prove it is still alive."""
        if self._connection is None:
            raise LeadershipLost("no lock session")
        try:
            row = self._connection.execute("SELECT clock_timestamp()").fetchone()
        except psycopg.Error as exc:
            self.release()
            raise LeadershipLost(f"the lock's database session failed: {exc}") from exc
        if row is None:
            raise LeadershipLost("the lock's database session returned nothing")
        moment: datetime = row[0]
        return moment

    def release(self) -> None:
        """Close the session, which frees the lock for a standby."""
        if self._connection is not None:
            try:
                self._connection.close()
            finally:
                self._connection = None

    def _connect(self) -> psycopg.Connection[Any]:
        if self._connection is not None and not self._connection.closed:
            return self._connection
        params = connections["default"].get_connection_params()
        params.update(
            application_name=f"{APPLICATION_NAME} pid={os.getpid()}",
            autocommit=True,
            # Client side: fail a query on a dead network within seconds.
            keepalives=1,
            keepalives_idle=5,
            keepalives_interval=2,
            keepalives_count=3,
            tcp_user_timeout=10_000,
            options=f"{params.get('options', '')} {SERVER_KEEPALIVES}".strip(),
        )
        connection: psycopg.Connection[Any] = psycopg.connect(**params)
        self._connection = connection
        return connection


def leader_describe() -> str | None:
    """Who holds the lock, as its session's application name, or None."""
    with connections["default"].cursor() as cursor:
        cursor.execute(
            """SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a USING (pid)
            WHERE l.locktype = 'advisory' AND l.granted AND l.database = (
                SELECT oid FROM pg_database WHERE datname = current_database())
            AND l.classid = %s AND l.objid = %s AND l.objsubid = 2""",
            [LOCK_CLASS, LOCK_ID],
        )
        row = cursor.fetchone()
    return str(row[0]) if row else None
