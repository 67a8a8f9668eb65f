"""Every declared schedule fires on the days and hours it says, Sundays and DST weeks included."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from backend.maintenance.checks import schedules_check
from backend.maintenance.schedules import SCHEDULES, EveryTiming, schedule_get
from tests.conftest import ROOT

PARIS = ZoneInfo("Europe/Paris")


def fire_times(name: str, start: datetime, end: datetime) -> list[datetime]:
    timing = schedule_get(name).timing()
    found, moment = [], start
    while (moment := timing.next_after(moment)) < end:
        found.append(moment)
    return found


def in_paris(moments: list[datetime]) -> list[str]:
    return [m.astimezone(PARIS).strftime("%a %Y-%m-%d %H:%M %z") for m in moments]


def scan(name: str, start: datetime, end: datetime) -> list[datetime]:
    """Brute force: every real minute whose local wall clock the spec matches."""
    timing = schedule_get(name).cron_timing()
    spec, zone = timing.spec, timing.zone
    found, moment = [], start.replace(second=0, microsecond=0) + timedelta(minutes=1)
    while moment < end:
        wall = moment.astimezone(zone)
        if wall.minute in spec.minutes and wall.hour in spec.hours and spec.matches_day(wall):
            found.append(moment)
        moment += timedelta(minutes=1)
    return found


@pytest.fixture
def paris_operators(settings):
    settings.SCHEDULER_TIMEZONE = "Europe/Paris"


def test_nightly_upload_cleanup_runs_every_day_at_0340_through_the_spring_change(
    paris_operators,
):
    week = fire_times(
        "cleanup_uploads",
        datetime(2026, 3, 23, tzinfo=PARIS),
        datetime(2026, 3, 30, 12, tzinfo=PARIS),
    )
    assert in_paris(week) == [
        "Mon 2026-03-23 03:40 +0100",
        "Tue 2026-03-24 03:40 +0100",
        "Wed 2026-03-25 03:40 +0100",
        "Thu 2026-03-26 03:40 +0100",
        "Fri 2026-03-27 03:40 +0100",
        "Sat 2026-03-28 03:40 +0100",
        "Sun 2026-03-29 03:40 +0200",
        "Mon 2026-03-30 03:40 +0200",
    ]


def test_queue_purge_runs_on_sundays_only_through_the_autumn_change(paris_operators):
    weeks = fire_times(
        "purge_queue", datetime(2026, 10, 12, tzinfo=PARIS), datetime(2026, 11, 3, tzinfo=PARIS)
    )
    assert in_paris(weeks) == [
        "Sun 2026-10-18 04:10 +0200",
        "Sun 2026-10-25 04:10 +0100",
        "Sun 2026-11-01 04:10 +0100",
    ]


def test_image_cleanup_runs_every_hour_in_utc_whatever_the_operators_zone(paris_operators):
    start = datetime(2026, 10, 19, tzinfo=UTC)  # a Monday; the week ends on the change
    week = fire_times("cleanup_images", start, start + timedelta(days=7))
    assert len(week) == 7 * 24
    assert {(m.minute, m.second) for m in week} == {(17, 0)}
    assert {b - a for a, b in itertools.pairwise(week)} == {timedelta(hours=1)}
    assert {m.strftime("%a") for m in week} == {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"}


@pytest.mark.parametrize(
    ("zone", "week_of"),
    [
        ("UTC", datetime(2026, 6, 10, tzinfo=UTC)),
        ("Europe/Paris", datetime(2026, 3, 26, tzinfo=UTC)),  # springs forward 29 Mar
        ("Europe/Paris", datetime(2026, 10, 22, tzinfo=UTC)),  # falls back 25 Oct
        ("America/New_York", datetime(2026, 3, 5, tzinfo=UTC)),  # springs forward 8 Mar
        ("America/New_York", datetime(2026, 10, 29, tzinfo=UTC)),  # falls back 1 Nov
        ("Australia/Sydney", datetime(2026, 4, 2, tzinfo=UTC)),  # falls back 5 Apr
        ("Australia/Sydney", datetime(2026, 10, 1, tzinfo=UTC)),  # springs forward 4 Oct
        ("Asia/Kolkata", datetime(2026, 6, 10, tzinfo=UTC)),  # a half-hour offset
    ],
)
def test_declared_schedules_fire_exactly_when_their_wall_clock_matches(settings, zone, week_of):
    """A minute-by-minute scan agrees: no missed day, no double run in a repeated hour."""
    settings.SCHEDULER_TIMEZONE = zone
    start, end = week_of, week_of + timedelta(days=8)
    for schedule in SCHEDULES:
        assert fire_times(schedule.name, start, end) == scan(schedule.name, start, end), (
            schedule.name
        )


def test_fast_test_grid_replaces_every_schedule_only_when_set(settings):
    assert settings.MAINTENANCE_TEST_TICK_SECONDS == 0
    assert not any(isinstance(s.timing(), EveryTiming) for s in SCHEDULES)
    settings.MAINTENANCE_TEST_TICK_SECONDS = 2
    at = datetime(2026, 1, 1, 12, 0, 3, 500_000, tzinfo=UTC)
    for schedule in SCHEDULES:
        timing = schedule.timing()
        assert timing.latest_at_or_before(at) == datetime(2026, 1, 1, 12, 0, 2, tzinfo=UTC)
        assert timing.next_after(at) == datetime(2026, 1, 1, 12, 0, 4, tzinfo=UTC)


def test_fast_test_grid_is_refused_in_prod():
    env = dict(
        os.environ,
        ENV_NAME="prod",
        SECRET_KEY="x" * 50,
        ALLOWED_HOSTS="example.org",
        CONTACT_RECIPIENTS="ops@example.org",
        PHOTO_STORAGE="local",
        MAINTENANCE_TEST_TICK_SECONDS="2",
    )
    result = subprocess.run(
        [sys.executable, "-c", "import backend.settings"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "MAINTENANCE_TEST_TICK_SECONDS is for tests" in result.stderr


def test_unknown_operators_zone_fails_the_system_check(settings):
    settings.SCHEDULER_TIMEZONE = "Mars/Olympus_Mons"
    errors = schedules_check()
    assert {error.id for error in errors} == {"maintenance.E001"}
    assert {error.msg.split(":")[0] for error in errors} == {
        "schedule cleanup_uploads",
        "schedule purge_queue",
    }
