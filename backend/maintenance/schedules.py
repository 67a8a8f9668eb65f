"""Every periodic job, its cron expression and its time zone, declared in one place.

``runperiodiq`` enqueues a schedule's actor once per fire time ("tick"). Jobs
that run often are declared in UTC, where no hour is skipped or repeated; daily
and weekly jobs run at night in the operators' zone (``SCHEDULER_TIMEZONE``),
at times clear of the 02:00-03:00 daylight-saving changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from django.conf import settings

from backend.maintenance.cron import CronSpec

# A zone name meaning "settings.SCHEDULER_TIMEZONE", read when the schedule is used.
OPERATORS_ZONE = "SCHEDULER_TIMEZONE"


class Timing(Protocol):
    def next_after(self, moment: datetime) -> datetime: ...

    def latest_at_or_before(self, moment: datetime) -> datetime: ...


@dataclass(frozen=True)
class CronTiming:
    spec: CronSpec
    zone: ZoneInfo

    def next_after(self, moment: datetime) -> datetime:
        return self.spec.next_after(moment, self.zone)

    def latest_at_or_before(self, moment: datetime) -> datetime:
        return self.spec.latest_at_or_before(moment, self.zone)

    def __str__(self) -> str:
        return f"{self.spec.text} ({self.zone.key})"


@dataclass(frozen=True)
class EveryTiming:
    """Every ``seconds`` on the Unix epoch's grid: the test-only fast schedule."""

    seconds: int

    def next_after(self, moment: datetime) -> datetime:
        return self.latest_at_or_before(moment) + timedelta(seconds=self.seconds)

    def latest_at_or_before(self, moment: datetime) -> datetime:
        stamp = int(moment.timestamp()) // self.seconds * self.seconds
        return datetime.fromtimestamp(stamp, UTC)

    def __str__(self) -> str:
        return f"every {self.seconds} s (MAINTENANCE_TEST_TICK_SECONDS)"


@dataclass(frozen=True)
class Schedule:
    name: str
    actor_name: str
    cron: str
    zone: str
    what: str

    def zone_info(self) -> ZoneInfo:
        return ZoneInfo(settings.SCHEDULER_TIMEZONE if self.zone == OPERATORS_ZONE else self.zone)

    def cron_timing(self) -> CronTiming:
        return CronTiming(CronSpec.parse(self.cron), self.zone_info())

    def timing(self) -> Timing:
        """The declared timing, or the fast test grid when MAINTENANCE_TEST_TICK_SECONDS is set."""
        every = int(settings.MAINTENANCE_TEST_TICK_SECONDS)
        return EveryTiming(every) if every else self.cron_timing()


SCHEDULES: tuple[Schedule, ...] = (
    Schedule(
        name="cleanup_images",
        actor_name="cleanup_images",
        cron="17 * * * *",
        zone="UTC",
        what="delete stored images that nothing references, hourly",
    ),
    Schedule(
        name="cleanup_uploads",
        actor_name="cleanup_uploads",
        cron="40 3 * * *",
        zone=OPERATORS_ZONE,
        what="fail abandoned uploads, delete old photo jobs, daily at 03:40",
    ),
    Schedule(
        name="purge_queue",
        actor_name="purge_queue",
        cron="10 4 * * sun",
        zone=OPERATORS_ZONE,
        what="purge old rejected messages, scheduled runs and dead workers, Sundays at 04:10",
    ),
)


def schedule_get(name: str) -> Schedule:
    for schedule in SCHEDULES:
        if schedule.name == name:
            return schedule
    raise KeyError(name)
