"""System checks: a schedule that cannot be computed stops every command at start-up."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfoNotFoundError

from django.core import checks

from backend.maintenance.cron import CronError
from backend.maintenance.schedules import SCHEDULES


@checks.register()
def schedules_check(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    errors: list[checks.CheckMessage] = []
    for schedule in SCHEDULES:
        try:
            schedule.cron_timing()
        except (CronError, ZoneInfoNotFoundError, ValueError) as exc:
            errors.append(
                checks.Error(
                    f"schedule {schedule.name}: {exc}",
                    hint="Fix backend/maintenance/schedules.py, or set SCHEDULER_TIMEZONE "
                    "to an IANA zone such as Europe/Paris.",
                    id="maintenance.E001",
                )
            )
    return errors
