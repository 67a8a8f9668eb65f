"""The broker's tables as read-only models, and the job counters behind /metrics.

``Job`` and ``Worker`` are unmanaged views of ``dramatiq.queue`` and
``dramatiq.worker`` (created by migration 0001 from dramatiq-postgres's own
schema); Django never alters them. A message row exists only while its job is
waiting, delayed, running or failed: acknowledged messages are deleted.
"""

from __future__ import annotations

import json
from typing import Any

from django.db import models

DELAY_SUFFIX = ".DQ"


class Job(models.Model):
    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        CONSUMED = "consumed", "Claimed by a worker"
        REJECTED = "rejected", "Failed"

    message_id = models.UUIDField(primary_key=True)
    queue_name = models.TextField()
    state = models.TextField(choices=State.choices, null=True)  # noqa: DJ001  (the broker's schema)
    mtime = models.DateTimeField(null=True)
    message = models.JSONField(null=True)
    position = models.BigIntegerField()
    available_at = models.DateTimeField()
    worker_id = models.UUIDField(null=True)
    consumed_at = models.DateTimeField(null=True)

    class Meta:
        managed = False
        db_table = '"dramatiq"."queue"'
        ordering = ("-mtime",)
        verbose_name = "job"

    def __str__(self) -> str:
        return f"{self.actor_name} {self.message_id}"

    @property
    def payload(self) -> dict[str, Any]:
        # psycopg hands jsonb over already decoded; older rows may be text.
        raw = self.message
        if isinstance(raw, str):
            raw = json.loads(raw)
        return raw if isinstance(raw, dict) else {}

    @property
    def options(self) -> dict[str, Any]:
        options = self.payload.get("options")
        return options if isinstance(options, dict) else {}

    @property
    def actor_name(self) -> str:
        return str(self.payload.get("actor_name", "?"))

    @property
    def queue(self) -> str:
        """The queue the job belongs to, whether it is due or delayed."""
        return self.queue_name.removesuffix(DELAY_SUFFIX)

    @property
    def attempts(self) -> int:
        """Attempts that raised so far (dramatiq's ``retries`` option)."""
        return int(self.options.get("retries") or 0)

    @property
    def traceback(self) -> str:
        return str(self.options.get("traceback") or "")

    @property
    def error(self) -> str:
        """The exception line of the stored traceback, e.g. ``ValueError: bad``."""
        lines = [line for line in self.traceback.splitlines() if line.strip()]
        return lines[-1].strip() if lines else ""


class Worker(models.Model):
    """A worker process; its row is refreshed every heartbeat while it runs."""

    worker_id = models.UUIDField(primary_key=True)
    heartbeat_at = models.DateTimeField()

    class Meta:
        managed = False
        db_table = '"dramatiq"."worker"'
        ordering = ("-heartbeat_at",)
        verbose_name = "worker"

    def __str__(self) -> str:
        return str(self.worker_id)


class JobCounter(models.Model):
    """One monotonic counter, summed over every process (see backend/jobs/metrics.py).

    ``metric`` is ``enqueued``, ``processed`` (``label`` = outcome),
    ``duration_bucket`` (``label`` = upper bound in seconds, not cumulative) or
    ``duration_ms_sum``.
    """

    actor = models.CharField(max_length=200)
    metric = models.CharField(max_length=32)
    label = models.CharField(max_length=32, blank=True)
    value = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=("actor", "metric", "label"), name="jobs_jobcounter_unique_series"
            )
        ]

    def __str__(self) -> str:
        return f"{self.actor} {self.metric} {self.label} = {self.value}"
