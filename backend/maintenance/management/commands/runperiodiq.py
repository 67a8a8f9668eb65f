"""``manage.py runperiodiq``: the maintenance scheduler; run one or more, one leads.

Named after periodiq, whose scheduler it replaces: periodiq's sends every tick
from every running process, forgets ticks missed while down and mis-schedules
some day-of-week specs (see backend/maintenance/scheduler.py and cron.py).
"""

from __future__ import annotations

import signal
import threading
from datetime import UTC, datetime
from typing import Any

import dramatiq
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from backend.maintenance.scheduler import Scheduler
from backend.maintenance.schedules import SCHEDULES


class Command(BaseCommand):
    help = "Run the maintenance scheduler (leader-elected; safe to run several)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--list",
            action="store_true",
            help="print each schedule and its next fire times, then exit",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        # Sending needs the actors registered on the broker.
        import actors.maintenance  # noqa: F401

        broker = dramatiq.get_broker()
        for schedule in SCHEDULES:
            if schedule.actor_name not in broker.actors:
                raise CommandError(f"schedule {schedule.name}: no actor {schedule.actor_name!r}")
        if options["list"]:
            self._list()
            return
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        Scheduler(
            schedules=SCHEDULES, poll=float(settings.MAINTENANCE_LEADER_POLL_SECONDS), stop=stop
        ).run()

    def _list(self) -> None:
        now = datetime.now(UTC)
        for schedule in SCHEDULES:
            timing = schedule.timing()
            self.stdout.write(
                f"{schedule.name}: {timing} -> {schedule.actor_name} ({schedule.what})"
            )
            moment = now
            for _ in range(3):
                moment = timing.next_after(moment)
                local = moment.astimezone(schedule.zone_info())
                self.stdout.write(f"    {local:%a %Y-%m-%d %H:%M:%S %Z}")
