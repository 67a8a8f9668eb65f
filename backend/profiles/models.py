"""A person's profile and the background jobs that replace its photo."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models


class Profile(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="profile"
    )
    display_name = models.CharField(max_length=80, blank=True)
    bio = models.TextField(max_length=1000, blank=True)
    # Storage alias and names (Cloudflare image ids there), never URLs: URLs are
    # built when a page renders, without calling the storage.
    photo_storage = models.CharField(max_length=40, blank=True)
    photo_name = models.CharField(max_length=255, blank=True)
    photo_thumb_name = models.CharField(max_length=255, blank=True)
    photo_job = models.ForeignKey(
        "PhotoJob", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"Profile of user {self.user_id}"


class PhotoJob(models.Model):
    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        PROCESSING = "processing", "Processing"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    FINISHED = (State.DONE, State.FAILED)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="photo_jobs"
    )
    state = models.CharField(max_length=16, choices=State.choices, default=State.QUEUED)
    # Shown to the user; `detail` is for operators (exception text).
    error = models.CharField(max_length=300, blank=True)
    detail = models.TextField(blank=True)
    # The uploaded bytes, staged in Postgres so a worker on another machine can
    # read them; cleared once the job has finished.
    original = models.BinaryField(null=True, blank=True, editable=False)
    original_format = models.CharField(max_length=8)
    original_bytes = models.PositiveIntegerField()
    attempts = models.PositiveIntegerField(default=0)
    message_id = models.UUIDField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at",)
        indexes = [models.Index(fields=("user", "-created_at"))]

    def __str__(self) -> str:
        return f"Photo job {self.id} ({self.state})"

    @property
    def is_pending(self) -> bool:
        return self.state in (self.State.QUEUED, self.State.PROCESSING)

    def output_name(self, size: int, extension: str) -> str:
        """Deterministic per job, so a retried job writes the same names again."""
        return f"avatars/{self.user_id}/{self.id}/{size}.{extension}"
