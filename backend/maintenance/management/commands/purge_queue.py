from __future__ import annotations

from backend.maintenance.management.commands._cleanup import CleanupCommand
from backend.maintenance.queue_purge import queue_purge
from backend.maintenance.report import Report


class Command(CleanupCommand):
    help = "Purge old rejected messages, old scheduled runs and dead worker rows."
    job = "purge_queue"

    def service(self, *, dry_run: bool, source: str) -> Report:
        return queue_purge(dry_run=dry_run, source=source)
