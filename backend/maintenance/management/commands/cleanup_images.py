from __future__ import annotations

from backend.maintenance.image_cleanup import images_cleanup
from backend.maintenance.management.commands._cleanup import CleanupCommand
from backend.maintenance.report import Report


class Command(CleanupCommand):
    help = (
        "Delete stored images that no profile and no pending photo job references, "
        "past the grace period."
    )
    job = "cleanup_images"

    def service(self, *, dry_run: bool, source: str) -> Report:
        return images_cleanup(dry_run=dry_run, source=source)
