"""What the scheduler enqueued, and what the cleanup jobs deleted."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class ScheduledRun(models.Model):
    """One tick of one schedule: inserted in the transaction that enqueues its message."""

    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        SKIPPED = "skipped", "Skipped"
        FAILED = "failed", "Failed"

    schedule = models.CharField(max_length=64)
    # The fire time this run stands for; a later run may cover a late one.
    tick = models.DateTimeField()
    enqueued_at = models.DateTimeField(default=timezone.now)
    message_id = models.UUIDField(null=True, blank=True)
    state = models.CharField(max_length=16, choices=State.choices, default=State.QUEUED)
    # Deliveries of the message: more than one only after a crash or a retry.
    executions = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    outcome = models.TextField(blank=True)

    class Meta:
        ordering = ("-tick",)
        constraints = [
            models.UniqueConstraint(fields=("schedule", "tick"), name="scheduled_run_once_per_tick")
        ]

    def __str__(self) -> str:
        return f"{self.schedule} at {self.tick:%Y-%m-%d %H:%M:%S} ({self.state})"


class DeletionRecord(models.Model):
    """An audit line per thing a cleanup deleted (or, in a dry run, would have)."""

    what = models.CharField(max_length=1024)
    # A storage alias, or "database" for rows.
    where = models.CharField(max_length=64)
    when = models.DateTimeField(default=timezone.now, db_index=True)
    why = models.TextField()
    dry_run = models.BooleanField(default=False)
    # "scheduled run 12 (cleanup_images)" or "manage.py cleanup_images".
    source = models.CharField(max_length=200)

    class Meta:
        ordering = ("-when", "-id")

    def __str__(self) -> str:
        prefix = "would delete" if self.dry_run else "deleted"
        return f"{prefix} {self.what} from {self.where}"
