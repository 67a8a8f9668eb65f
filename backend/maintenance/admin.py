"""Read-only admin pages: the deletion audit log and the scheduled runs.

Nothing here is editable, and every value is rendered through the admin's own
escaping (no format_html of stored text, no mark_safe).
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from backend.maintenance.models import DeletionRecord, ScheduledRun


class ReadOnlyAdmin(admin.ModelAdmin[Any]):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(DeletionRecord)
class DeletionRecordAdmin(ReadOnlyAdmin):
    list_display = ("when", "what", "where", "why", "dry_run", "source")
    list_filter = ("where", "dry_run")
    search_fields = ("what", "why", "source")
    date_hierarchy = "when"


@admin.register(ScheduledRun)
class ScheduledRunAdmin(ReadOnlyAdmin):
    list_display = (
        "schedule",
        "tick",
        "state",
        "executions",
        "enqueued_at",
        "started_at",
        "finished_at",
        "outcome",
    )
    list_filter = ("schedule", "state")
    date_hierarchy = "tick"
