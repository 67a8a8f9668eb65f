"""The shared shape of the cleanup commands: run a service, print what it did."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from backend.maintenance.report import Report


class CleanupCommand(BaseCommand):
    job = ""

    def service(self, *, dry_run: bool, source: str) -> Report:
        raise NotImplementedError

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="print what would be deleted; delete nothing (the audit log marks it dry)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        dry_run = bool(options["dry_run"])
        report = self.service(dry_run=dry_run, source=f"manage.py {self.job}")
        for line in report.lines:
            self.stdout.write(line)
        self.stdout.write(report.summary())
