from __future__ import annotations

from backend.maintenance.management.commands._cleanup import CleanupCommand
from backend.maintenance.report import Report
from backend.maintenance.upload_cleanup import uploads_cleanup


class Command(CleanupCommand):
    help = "Fail abandoned photo uploads and delete finished photo jobs past their retention."
    job = "cleanup_uploads"

    def service(self, *, dry_run: bool, source: str) -> Report:
        return uploads_cleanup(dry_run=dry_run, source=source)
