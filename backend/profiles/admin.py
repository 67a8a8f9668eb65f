from __future__ import annotations

from django.contrib import admin

from backend.profiles.models import PhotoJob, Profile


@admin.register(Profile)
class ProfileAdmin(admin.ModelAdmin[Profile]):
    list_display = ("user", "display_name", "photo_storage", "photo_name", "updated_at")
    search_fields = ("user__username", "display_name")
    readonly_fields = ("photo_storage", "photo_name", "photo_thumb_name", "photo_job")


@admin.register(PhotoJob)
class PhotoJobAdmin(admin.ModelAdmin[PhotoJob]):
    list_display = ("id", "user", "state", "attempts", "error", "created_at", "finished_at")
    list_filter = ("state",)
    search_fields = ("id", "user__username")
    exclude = ("original",)
    readonly_fields = (
        "user",
        "state",
        "error",
        "detail",
        "original_format",
        "original_bytes",
        "attempts",
        "message_id",
        "created_at",
        "started_at",
        "finished_at",
    )
