"""``manage.py checkliveness --worker|--scheduler``: a probe for orchestrators.

Exits 0 when the checked process kind is alive, 1 (with the reason on stderr)
when it is not or the database cannot be asked. See backend/ops/liveness.py for
what "alive" means.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError

from backend.ops.liveness import heartbeat_ttl_seconds, scheduler_leader_present, worker_counts


class Command(BaseCommand):
    help = "Exit non-zero unless a worker heartbeat is fresh / a scheduler holds the leader lock."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--worker", action="store_true", help="some worker heartbeat is fresher than the TTL"
        )
        parser.add_argument(
            "--scheduler", action="store_true", help="some scheduler holds the leader lock"
        )
        parser.add_argument(
            "--max-age",
            type=float,
            help="heartbeat age limit in seconds (default: DRAMATIQ_HEARTBEAT_TTL_SECONDS)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not (options["worker"] or options["scheduler"]):
            raise CommandError("say what to check: --worker and/or --scheduler")
        try:
            if options["worker"]:
                self._check_worker(options["max_age"] or heartbeat_ttl_seconds())
            if options["scheduler"]:
                self._check_scheduler()
        except DatabaseError as exc:
            raise CommandError(f"database unavailable: {exc}") from exc

    def _check_worker(self, max_age: float) -> None:
        workers = worker_counts(ttl=max_age)
        if not workers.live:
            last = "never" if workers.freshest_age is None else f"{workers.freshest_age:.0f} s ago"
            raise CommandError(f"no live worker: last heartbeat {last} (limit {max_age:.0f} s)")
        self.stdout.write(
            f"worker ok: {workers.live} live, freshest heartbeat {workers.freshest_age:.1f} s ago"
        )

    def _check_scheduler(self) -> None:
        if not scheduler_leader_present():
            raise CommandError("no scheduler holds the leader lock")
        self.stdout.write("scheduler ok: a leader holds the lock")
