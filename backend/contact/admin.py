"""Contact messages for operators: read them, see failures, resend the failed ones.

Every value is rendered through the admin's own escaping; nothing here builds
HTML from a message's text.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from backend.contact import services
from backend.contact.models import ContactMessage


@admin.register(ContactMessage)
class ContactMessageAdmin(admin.ModelAdmin[ContactMessage]):
    list_display = ("created_at", "name", "email", "category", "state", "attempts", "sent_at")
    list_display_links = ("created_at", "name")
    list_filter = ("state", "category")
    search_fields = ("name", "email", "=id")
    date_hierarchy = "created_at"
    actions = ("resend",)
    fields = (
        "id",
        "created_at",
        "name",
        "email",
        "category",
        "body",
        "state",
        "attempts",
        "sent_at",
        "last_error",
        "message_id_header",
        "ip",
        "user",
    )
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Messages come from the form only.
        return False

    def has_change_permission(
        self, request: HttpRequest, obj: ContactMessage | None = None
    ) -> bool:
        # Messages are records of what a visitor wrote; they are read, not edited.
        return False

    def has_resend_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("contact.change_contactmessage")

    @admin.action(description="Resend selected failed messages", permissions=["resend"])
    def resend(self, request: HttpRequest, queryset: QuerySet[ContactMessage]) -> None:
        selected = list(queryset.values_list("pk", flat=True))
        queued = services.contact_message_resend(message_ids=selected)
        skipped = len(selected) - queued
        self.message_user(
            request,
            f"{queued} failed message(s) queued to be sent again; "
            f"{skipped} not in the failed state left alone.",
            messages.SUCCESS if queued else messages.WARNING,
        )
