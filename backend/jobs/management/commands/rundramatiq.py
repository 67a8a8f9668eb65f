"""``manage.py rundramatiq``: Dramatiq workers for the project's ``actors`` package.

django_dramatiq discovers ``tasks`` modules inside apps; this project keeps its
actors in the top-level ``actors`` package instead, one module per domain.

Every process loads every actor; ``--queues`` picks what it consumes (a queue's
delayed "<queue>.DQ" companion comes with it), e.g. one worker per queue:
``rundramatiq --queues photos --threads 16``.

On SIGTERM each process stops taking jobs, gives running ones
``--worker-shutdown-timeout`` ms (default DRAMATIQ_SHUTDOWN_TIMEOUT_MS) to
finish, hands prefetched jobs back, and exits. A job still running then stays
claimed by the exited process; once its heartbeat is older than
DRAMATIQ_HEARTBEAT_TTL_SECONDS any live worker requeues it (dramatiq-postgres's
reaper), so it runs again rather than being lost. Actors are idempotent.
"""

from __future__ import annotations

import pkgutil

from django.conf import settings
from django.core.management.base import CommandParser
from django_dramatiq.management.commands.rundramatiq import Command as BaseCommand

import actors


class Command(BaseCommand):  # type: ignore[misc]
    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        # Dramatiq's default is 10 minutes, longer than any orchestrator waits
        # before SIGKILL; a bounded drain keeps shutdowns predictable.
        parser.set_defaults(worker_shutdown_timeout=settings.DRAMATIQ_SHUTDOWN_TIMEOUT_MS)

    def discover_tasks_modules(self) -> list[str]:
        modules = ["django_dramatiq.setup"]
        for info in pkgutil.iter_modules(actors.__path__, prefix="actors."):
            self.stdout.write(f" * Discovered actors module: {info.name!r}")
            modules.append(info.name)
        return modules
