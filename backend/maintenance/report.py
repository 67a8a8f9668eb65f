"""What one cleanup run did, and the audit line written for each deletion."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field

from backend.maintenance.models import DeletionRecord

logger = logging.getLogger(__name__)


@dataclass
class Report:
    job: str
    dry_run: bool
    source: str
    counts: Counter[str] = field(default_factory=Counter)
    lines: list[str] = field(default_factory=list)

    def count(self, what: str, number: int = 1) -> None:
        self.counts[what] += number

    def summary(self) -> str:
        counts = ", ".join(f"{what}: {number}" for what, number in sorted(self.counts.items()))
        mode = " (dry run, nothing deleted)" if self.dry_run else ""
        return f"{self.job}{mode}: {counts or 'nothing to do'}"


def deletion_record(
    *, report: Report, kind: str, what: str, where: str, why: str
) -> DeletionRecord:
    """Write the audit row and log line for one deletion (or, in a dry run, would-be deletion).

    ``kind`` is plural ("images"): the report counts "deleted images".
    """
    record = DeletionRecord.objects.create(
        what=what[:1024], where=where[:64], why=why, dry_run=report.dry_run, source=report.source
    )
    verb = "would delete" if report.dry_run else "deleted"
    line = f"{verb} {what} from {where}: {why}"
    report.lines.append(line)
    report.count(f"{verb} {kind}")
    logger.info("%s: %s", report.job, line)
    return record
