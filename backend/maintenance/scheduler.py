"""The scheduler loop behind ``manage.py runperiodiq``: lead, then enqueue due ticks.

Any number of schedulers may run; the one holding the leader lock enqueues,
the others poll for the lock every MAINTENANCE_LEADER_POLL_SECONDS. At each
wake-up the leader enqueues, per schedule, the latest tick due by the
database's clock if no run at or after it is recorded. So a tick that fell due
while no scheduler led (a killed leader, a deploy, an outage) is enqueued when
one leads again, once, however many ticks were missed.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from datetime import datetime

import psycopg
from django.db import DatabaseError, connection

from backend.maintenance.leader import LeaderLock, LeadershipLost, leader_describe
from backend.maintenance.runs import scheduled_run_enqueue
from backend.maintenance.schedules import Schedule, Timing

logger = logging.getLogger(__name__)

# Wake a little after a tick rather than a little before it.
WAKE_MARGIN_SECONDS = 0.01


class Scheduler:
    def __init__(self, *, schedules: Sequence[Schedule], poll: float, stop: threading.Event):
        self._entries: list[tuple[Schedule, Timing]] = [(s, s.timing()) for s in schedules]
        self._poll = poll
        self._stop = stop
        self._lock = LeaderLock()
        self._leading = False
        self._standby_reason = ""
        # Latest tick known to be recorded, per schedule: spares a query per wake-up.
        self._recorded: dict[str, datetime] = {}

    def run(self) -> None:
        for schedule, timing in self._entries:
            logger.info("schedule %s: %s -> actor %s", schedule.name, timing, schedule.actor_name)
        try:
            while not self._stop.is_set():
                self._stop.wait(self.step())
        finally:
            self._lock.release()
            logger.info(
                "scheduler pid %d stopped%s",
                os.getpid(),
                " (leadership released)" if self._leading else "",
            )

    def step(self) -> float:
        """Do what is due now; return how long to sleep."""
        if not self._leading and not self._campaign():
            return self._poll
        try:
            now = self._lock.clock()
        except LeadershipLost as exc:
            self._leading = False
            logger.warning("scheduler pid %d lost leadership: %s", os.getpid(), exc)
            return self._poll
        try:
            self._enqueue_due(now)
        except DatabaseError as exc:
            # The ticks stay due; the next wake-up tries again on a new connection.
            logger.warning("enqueueing due ticks failed, will retry: %s", exc)
            connection.close()
            return self._poll
        upcoming = min(timing.next_after(now) for _, timing in self._entries)
        # Wake at least every poll interval to check the lock's session.
        return min((upcoming - now).total_seconds() + WAKE_MARGIN_SECONDS, self._poll)

    def _campaign(self) -> bool:
        try:
            acquired = self._lock.try_acquire()
        except psycopg.Error as exc:
            self._lock.release()
            self._log_standby(f"database unreachable ({exc})")
            return False
        if acquired:
            self._leading = True
            self._standby_reason = ""
            logger.info("scheduler pid %d is now the leader", os.getpid())
            return True
        try:
            leader = leader_describe() or "unknown"
        except DatabaseError:
            connection.close()
            leader = "unknown"
        self._log_standby(f"leader: {leader}")
        return False

    def _log_standby(self, reason: str) -> None:
        # Once per change, not once per poll.
        if reason != self._standby_reason:
            self._standby_reason = reason
            logger.info("scheduler pid %d standing by; %s", os.getpid(), reason)

    def _enqueue_due(self, now: datetime) -> None:
        for schedule, timing in self._entries:
            tick = timing.latest_at_or_before(now)
            recorded = self._recorded.get(schedule.name)
            if recorded is not None and tick <= recorded:
                continue
            run = scheduled_run_enqueue(schedule=schedule, tick=tick)
            if run is None:
                logger.info("tick %s at %s: already recorded", schedule.name, tick.isoformat())
            else:
                logger.info(
                    "tick %s at %s: enqueued run %d (message %s)",
                    schedule.name,
                    tick.isoformat(),
                    run.pk,
                    run.message_id,
                )
            self._recorded[schedule.name] = tick
