"""Cron expressions evaluated in an explicit time zone: next and latest fire times.

This replaces periodiq's matcher, which never fires on Sunday written as ``0`` or
``sun``, mishandles ``7`` and ranges through Sunday, skips valid times after an
hour or day rolls over, and only knows the process's local zone
(tests/maintenance/test_cron.py shows each defect next to the fix).

Daylight saving time follows cron: a wall time that a spring-forward skips fires
when the clocks jump; a wall time that a fall-back repeats fires once, the first
time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
MONTHS = {
    name: number
    for number, name in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"),
        start=1,
    )
}
WEEKDAYS = {
    name: number for number, name in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))
}
# A 29 February spec fires at least once in eight years (1900 and 2100 skip it).
SEARCH_DAYS = 8 * 366 + 2


class CronError(ValueError):
    """The expression is malformed or never fires."""


@dataclass(frozen=True)
class CronSpec:
    """A parsed five-field cron expression; weekdays are 0 (Sunday) to 6."""

    text: str
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]
    # Cron's rule: when both day fields are restricted, either one may match.
    days_restricted: bool
    weekdays_restricted: bool

    @classmethod
    def parse(cls, text: str) -> CronSpec:
        fields = MACROS.get(text.strip().lower(), text).split()
        if len(fields) != 5:
            raise CronError(f"{text!r}: expected 5 fields (minute hour day month weekday)")
        minute, hour, day, month, weekday = fields
        weekdays = _expand(weekday, 0, 7, names=WEEKDAYS, star_high=6, sunday_is_7=True)
        return cls(
            text=text,
            minutes=tuple(sorted(_expand(minute, 0, 59))),
            hours=tuple(sorted(_expand(hour, 0, 23))),
            days=frozenset(_expand(day, 1, 31)),
            months=frozenset(_expand(month, 1, 12, names=MONTHS)),
            # 7 is Sunday too; periodiq keeps it apart from 0.
            weekdays=frozenset(value % 7 for value in weekdays),
            days_restricted=not day.startswith("*"),
            weekdays_restricted=not weekday.startswith("*"),
        )

    def matches_day(self, day: date) -> bool:
        if day.month not in self.months:
            return False
        in_days = day.day in self.days
        in_weekdays = day.isoweekday() % 7 in self.weekdays
        if self.days_restricted and self.weekdays_restricted:
            return in_days or in_weekdays
        return in_days and in_weekdays

    def next_after(self, moment: datetime, zone: ZoneInfo) -> datetime:
        """The first fire time strictly after ``moment``, in UTC."""
        first_day = moment.astimezone(zone).date() - timedelta(days=1)
        for offset in range(SEARCH_DAYS):
            for fire in self.fires_on(first_day + timedelta(days=offset), zone):
                if fire > moment:
                    return fire
        raise CronError(f"{self.text!r} never fires")

    def latest_at_or_before(self, moment: datetime, zone: ZoneInfo) -> datetime:
        """The last fire time at or before ``moment``, in UTC."""
        last_day = moment.astimezone(zone).date() + timedelta(days=1)
        for offset in range(SEARCH_DAYS):
            for fire in reversed(self.fires_on(last_day - timedelta(days=offset), zone)):
                if fire <= moment:
                    return fire
        raise CronError(f"{self.text!r} never fires")

    def fires_on(self, day: date, zone: ZoneInfo) -> list[datetime]:
        """The fire times on a local calendar day, in UTC, sorted and distinct."""
        if not self.matches_day(day):
            return []
        walls = (
            datetime.combine(day, time(hour, minute))
            for hour in self.hours
            for minute in self.minutes
        )
        return sorted({wall_time_resolve(wall, zone) for wall in walls})


def wall_time_resolve(wall: datetime, zone: ZoneInfo) -> datetime:
    """The UTC instant a naive local wall time stands for, cron's way."""
    # fold=0 is the first of two repeated wall times.
    instant = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if instant.astimezone(zone).replace(tzinfo=None) == wall:
        return instant
    # Skipped by a spring-forward: fold=0 lands one gap past it; fire at the jump.
    return _offset_change_before(instant, zone)


def _offset_change_before(instant: datetime, zone: ZoneInfo) -> datetime:
    """The first second with ``instant``'s UTC offset, searching the day before it."""
    after = instant.astimezone(zone).utcoffset()
    low, high = int(instant.timestamp()) - 86_400, int(instant.timestamp())
    while high - low > 1:
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle, zone).utcoffset() == after:
            high = middle
        else:
            low = middle
    return datetime.fromtimestamp(high, UTC)


def _expand(
    field: str,
    low: int,
    high: int,
    *,
    names: dict[str, int] | None = None,
    star_high: int | None = None,
    sunday_is_7: bool = False,
) -> set[int]:
    values: set[int] = set()
    for part in field.lower().split(","):
        body, slash, step_text = part.partition("/")
        step = _number(step_text, field) if slash else 1
        if step < 1:
            raise CronError(f"{field!r}: a step must be at least 1")
        if body == "*":
            start, end = low, high if star_high is None else star_high
        elif "-" in body:
            first, _, last = body.partition("-")
            start, end = (
                _value(first, low, high, names, field),
                _value(last, low, high, names, field),
            )
            if sunday_is_7 and end == 0 and start > 0:
                end = 7  # "fri-sun": Sunday closes the week here.
        elif slash:
            raise CronError(f"{field!r}: a step needs '*' or a range before it")
        else:
            start = end = _value(body, low, high, names, field)
        if start > end:
            raise CronError(f"{field!r}: range {body} runs backwards")
        values.update(range(start, end + 1, step))
    return values


def _value(token: str, low: int, high: int, names: dict[str, int] | None, field: str) -> int:
    if names and token in names:
        return names[token]
    value = _number(token, field)
    if not low <= value <= high:
        raise CronError(f"{field!r}: {value} is outside {low}-{high}")
    return value


def _number(token: str, field: str) -> int:
    if not (token.isascii() and token.isdigit()):
        raise CronError(f"{field!r}: {token!r} is not a number")
    return int(token)
