"""Cron fire times: weekdays (Sunday!), rollovers, daylight saving, and periodiq's defects.

Each expectation is written out by hand. The same table runs against periodiq
0.14's matcher, marked xfail(strict) where periodiq gets it wrong: the day
periodiq is fixed, those turn into failures that say so.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pendulum
import pytest
from periodiq import cron as periodiq_cron

from backend.maintenance.cron import CronError, CronSpec

PARIS = ZoneInfo("Europe/Paris")
# 2026's daylight-saving changes in Paris: the last Sundays of March and October.
SPRING_FORWARD = datetime(2026, 3, 29, tzinfo=PARIS)
FALL_BACK = datetime(2026, 10, 25, tzinfo=PARIS)


def paris(text: str) -> datetime:
    """'2026-03-28 12:00' in Paris; a '+01'/'+02' suffix picks one of a repeated hour."""
    wall, _, offset = text.partition(" +")
    moment = datetime.strptime(wall, "%Y-%m-%d %H:%M").replace(tzinfo=PARIS)
    if offset:
        moment = moment.replace(fold=int(moment.utcoffset() != timedelta(hours=int(offset))))
    return moment


def fires(spec: str, start: datetime, count: int, zone: ZoneInfo = PARIS) -> list[datetime]:
    parsed, moment, found = CronSpec.parse(spec), start, []
    for _ in range(count):
        moment = parsed.next_after(moment, zone)
        found.append(moment)
    return found


def local(moments: list[datetime]) -> list[str]:
    return [m.astimezone(PARIS).strftime("%a %Y-%m-%d %H:%M %z") for m in moments]


def periodiq_fires(spec: str, start: datetime, count: int) -> list[datetime]:
    """What periodiq's scheduler would do: wake at next_valid_date, send if validate()."""
    parsed = periodiq_cron(spec)
    moment = pendulum.instance(start.astimezone(PARIS), tz="Europe/Paris")
    found: list[datetime] = []
    for _ in range(200):
        moment = parsed.next_valid_date(moment)
        if parsed.validate(moment):
            found.append(datetime.fromtimestamp(moment.timestamp(), UTC))
            if len(found) == count:
                break
    return found


# (spec, start, expected next fire times in Paris, periodiq's defect or None)
CASES = [
    pytest.param(
        "10 4 * * sun",
        "2026-03-23 12:00",
        ["Sun 2026-03-29 04:10 +0200", "Sun 2026-04-05 04:10 +0200"],
        "never fires: it matches Sunday as 0 but validates with isoweekday() (7)",
        id="sun",
    ),
    pytest.param(
        "10 4 * * 0",
        "2026-03-23 12:00",
        ["Sun 2026-03-29 04:10 +0200", "Sun 2026-04-05 04:10 +0200"],
        "never fires on 0",
        id="0-is-sunday",
    ),
    pytest.param(
        "@weekly",
        "2026-03-23 12:00",
        ["Sun 2026-03-29 00:00 +0100", "Sun 2026-04-05 00:00 +0200"],
        "@weekly is '0 0 * * 0', which never fires",
        id="weekly",
    ),
    pytest.param(
        "10 4 * * 7",
        "2026-03-28 12:00",
        ["Sun 2026-03-29 04:10 +0200", "Sun 2026-04-05 04:10 +0200"],
        "7 works, but the first two Sundays are skipped",
        id="7-is-sunday",
    ),
    pytest.param(
        "10 4 * * 5-7",
        "2026-03-28 12:00",
        [
            "Sun 2026-03-29 04:10 +0200",
            "Fri 2026-04-03 04:10 +0200",
            "Sat 2026-04-04 04:10 +0200",
            "Sun 2026-04-05 04:10 +0200",
        ],
        "a range ending in 7 never fires on Sunday, and skips a Friday",
        id="range-to-7",
    ),
    pytest.param(
        "10 4 * * fri-sun",
        "2026-03-28 12:00",
        [
            "Sun 2026-03-29 04:10 +0200",
            "Fri 2026-04-03 04:10 +0200",
            "Sat 2026-04-04 04:10 +0200",
            "Sun 2026-04-05 04:10 +0200",
        ],
        "'fri-sun' becomes the empty range 5-0 and crashes (IndexError)",
        id="named-range-to-sun",
    ),
    pytest.param(
        "10 4 * * sat,sun",
        "2026-03-27 12:00",
        ["Sat 2026-03-28 04:10 +0100", "Sun 2026-03-29 04:10 +0200", "Sat 2026-04-04 04:10 +0200"],
        "Sunday dropped from a list",
        id="weekend-list",
    ),
    pytest.param(
        "10 4 * * 0-6",
        "2026-03-28 12:00",
        ["Sun 2026-03-29 04:10 +0200", "Mon 2026-03-30 04:10 +0200"],
        "every day of the week, except Sunday",
        id="whole-week-range",
    ),
    pytest.param(
        "0 9 * * mon-fri",
        "2026-03-27 12:00",
        ["Mon 2026-03-30 09:00 +0200", "Tue 2026-03-31 09:00 +0200"],
        None,
        id="working-days",
    ),
    pytest.param(
        "10,40 3 * * *",
        "2026-01-13 02:20",
        ["Tue 2026-01-13 03:10 +0100", "Tue 2026-01-13 03:40 +0100"],
        "after the hour rolls over it keeps the minute it had, skipping 03:10",
        id="minute-after-hour-rollover",
    ),
    pytest.param(
        "0 3,15 * * mon",
        "2026-01-10 10:00",
        ["Mon 2026-01-12 03:00 +0100", "Mon 2026-01-12 15:00 +0100"],
        "after the day rolls over it keeps the hour it had, skipping 03:00",
        id="hour-after-day-rollover",
    ),
    pytest.param(
        "30 2 * * *",
        "2026-03-28 12:00",
        ["Sun 2026-03-29 03:00 +0200", "Mon 2026-03-30 02:30 +0200"],
        "skips the day whose 02:30 does not exist instead of firing when clocks jump",
        id="spring-forward-gap",
    ),
    pytest.param(
        "30 2 * * *",
        "2026-10-24 12:00",
        ["Sun 2026-10-25 02:30 +0200", "Mon 2026-10-26 02:30 +0100"],
        "a wall time the fall-back repeats fires twice",
        id="fall-back-repeat-fires-once",
    ),
    pytest.param(
        "0 0 1 jan,jul *",
        "2026-03-01 00:00",
        ["Wed 2026-07-01 00:00 +0200", "Fri 2027-01-01 00:00 +0100"],
        "month names are not understood (ValueError)",
        id="month-names",
    ),
    pytest.param(
        "0 12 15 * fri",
        "2026-01-10 00:00",
        ["Thu 2026-01-15 12:00 +0100", "Fri 2026-01-16 12:00 +0100", "Fri 2026-01-23 12:00 +0100"],
        None,
        id="day-of-month-or-weekday",
    ),
]


@pytest.mark.parametrize(("spec", "start", "expected", "periodiq_defect"), CASES)
def test_next_fire_times(spec, start, expected, periodiq_defect):
    assert local(fires(spec, paris(start), len(expected))) == expected


@pytest.mark.parametrize(("spec", "start", "expected", "periodiq_defect"), CASES)
def test_periodiq_next_fire_times(request, spec, start, expected, periodiq_defect):
    """The same table through periodiq 0.14; each known defect is an expected failure."""
    if periodiq_defect:
        request.applymarker(pytest.mark.xfail(strict=True, reason=f"periodiq: {periodiq_defect}"))
    assert local(periodiq_fires(spec, paris(start), len(expected))) == expected


def test_every_spelling_of_sunday_is_the_same_day():
    specs = ["0 4 * * 0", "0 4 * * 7", "0 4 * * sun", "0 4 * * SUN", "0 4 * * 6-7,0"]
    weekdays = {spec: CronSpec.parse(spec).weekdays for spec in specs}
    assert weekdays == {
        "0 4 * * 0": {0},
        "0 4 * * 7": {0},
        "0 4 * * sun": {0},
        "0 4 * * SUN": {0},
        "0 4 * * 6-7,0": {6, 0},
    }
    assert CronSpec.parse("0 4 * * fri-sun").weekdays == CronSpec.parse("0 4 * * 5-7").weekdays


def test_a_full_week_fires_on_each_day_it_names_and_no_other():
    start = paris("2026-03-22 23:59")  # a Sunday night, the week of the spring change
    weekdays = fires("15 6 * * mon,wed,sun", start, 6)
    assert local(weekdays) == [
        "Mon 2026-03-23 06:15 +0100",
        "Wed 2026-03-25 06:15 +0100",
        "Sun 2026-03-29 06:15 +0200",
        "Mon 2026-03-30 06:15 +0200",
        "Wed 2026-04-01 06:15 +0200",
        "Sun 2026-04-05 06:15 +0200",
    ]


def test_daily_time_keeps_its_wall_clock_across_both_changes():
    for change in (SPRING_FORWARD, FALL_BACK):
        days = fires("0 3 * * *", change - timedelta(days=2), 4)
        assert {m.astimezone(PARIS).strftime("%H:%M") for m in days} == {"03:00"}
        gaps = [later - earlier for earlier, later in itertools.pairwise(days)]
        # The day of the change is 23 h long in March and 25 h in October.
        short_or_long = timedelta(hours=23 if change is SPRING_FORWARD else 25)
        assert gaps == [timedelta(hours=24), short_or_long, timedelta(hours=24)]


def test_wall_times_in_the_spring_gap_fire_once_when_clocks_jump():
    found = fires("*/20 1-3 * * *", paris("2026-03-29 00:00"), 7)
    assert local(found) == [
        "Sun 2026-03-29 01:00 +0100",
        "Sun 2026-03-29 01:20 +0100",
        "Sun 2026-03-29 01:40 +0100",
        # 02:00, 02:20 and 02:40 do not exist: all three fire at 03:00 CEST, once.
        "Sun 2026-03-29 03:00 +0200",
        "Sun 2026-03-29 03:20 +0200",
        "Sun 2026-03-29 03:40 +0200",
        "Mon 2026-03-30 01:00 +0200",
    ]


def test_repeated_wall_times_in_the_autumn_fire_only_the_first_time():
    found = fires("30 * * * *", paris("2026-10-25 01:00"), 3)
    assert local(found) == [
        "Sun 2026-10-25 01:30 +0200",
        "Sun 2026-10-25 02:30 +0200",
        # 02:30 comes again in CET; it already fired.
        "Sun 2026-10-25 03:30 +0100",
    ]


def test_latest_fire_time_is_the_mirror_of_the_next_one():
    spec = CronSpec.parse("*/20 1-3 * * sun")
    moments = fires("*/20 1-3 * * sun", paris("2026-10-18 00:00"), 30)
    for earlier, later in itertools.pairwise(moments):
        assert spec.latest_at_or_before(later, PARIS) == later
        assert spec.latest_at_or_before(later - timedelta(seconds=1), PARIS) == earlier


def test_feb_29_is_found_years_ahead():
    assert local(fires("0 0 29 2 *", paris("2026-03-01 00:00"), 1)) == [
        "Tue 2028-02-29 00:00 +0100"
    ]


@pytest.mark.parametrize(
    "spec",
    [
        "* * * *",
        "60 * * * *",
        "* 24 * * *",
        "* * 0 * *",
        "* * * 13 *",
        "* * * * 8",
        "5-1 * * * *",
        "*/0 * * * *",
        "5/10 * * * *",
        "a * * * *",
        "* * * * funday",
        "@sometimes",
    ],
)
def test_malformed_specs_are_refused(spec):
    with pytest.raises(CronError):
        CronSpec.parse(spec)


def test_a_spec_that_can_never_fire_says_so():
    with pytest.raises(CronError, match="never fires"):
        CronSpec.parse("0 0 31 2 *").next_after(datetime(2026, 1, 1, tzinfo=UTC), PARIS)
