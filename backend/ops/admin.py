"""The operations console in Django's admin: queues, failed jobs and workers.

Everything shown passes through Django's escaping: display methods return
plain strings or ``format_html`` with arguments, and the summary template
autoescapes. Nothing here calls ``mark_safe``. django_dramatiq's task admin
renders message arguments with mark_safe (stored XSS through any text that
reaches a message), so it is unregistered and never shown.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

import django_dramatiq.admin  # noqa: F401  (imported first so that the unregister below sticks)
from django.contrib import admin, messages
from django.db.models import Count, IntegerField, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django_dramatiq.models import Task

from backend.jobs.models import DELAY_SUFFIX, Job, Worker
from backend.ops.liveness import heartbeat_ttl_seconds, worker_counts
from backend.ops.queue import failed_jobs_discard, failed_jobs_retry, queue_stats

admin.site.unregister(Task)
logger = logging.getLogger(__name__)


def format_age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= 2 * size:
            return f"{seconds / size:.0f} {unit}"
    return f"{seconds:.0f} s"


def job_status(job: Job) -> str:
    """Waiting, delayed, running or failed: the same rules as queue_stats()."""
    if job.state == Job.State.REJECTED:
        return "failed"
    if job.queue_name.endswith(DELAY_SUFFIX) or job.available_at > timezone.now():
        return "delayed"
    return "running" if job.state == Job.State.CONSUMED else "waiting"


class StatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(s, s.capitalize()) for s in ("waiting", "delayed", "running", "failed")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Job]) -> QuerySet[Job]:
        delayed = Q(queue_name__endswith=DELAY_SUFFIX) | Q(available_at__gt=timezone.now())
        match self.value():
            case "waiting":
                return queryset.filter(state=Job.State.QUEUED).exclude(delayed)
            case "delayed":
                return queryset.exclude(state=Job.State.REJECTED).filter(delayed)
            case "running":
                return queryset.filter(state=Job.State.CONSUMED).exclude(delayed)
            case "failed":
                return queryset.filter(state=Job.State.REJECTED)
        return queryset


class QueueFilter(admin.SimpleListFilter):
    title = "queue"
    parameter_name = "queue"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(q.name, q.name) for q in queue_stats()]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Job]) -> QuerySet[Job]:
        name = self.value()
        if not name:
            return queryset
        return queryset.filter(queue_name__in=(name, name + DELAY_SUFFIX))


def _pre(text: str) -> SafeString:
    return format_html('<pre style="white-space: pre-wrap; margin: 0">{}</pre>', text)


@admin.register(Job)
class JobAdmin(admin.ModelAdmin[Job]):
    change_list_template = "ops/job_change_list.html"
    list_display = ("message_id", "actor", "queue", "status", "attempts", "error", "sent", "mtime")
    list_filter = (StatusFilter, QueueFilter)
    search_fields = ("message__actor_name",)
    actions = ("retry_failed", "discard_failed")
    list_per_page = 50
    fieldsets = (
        (None, {"fields": ("message_id", "actor", "queue", "status", "attempts", "retried")}),
        ("When", {"fields": ("sent", "available_at", "consumed_at", "mtime", "worker_id")}),
        ("Call", {"fields": ("arguments", "message_options")}),
        ("Failure", {"fields": ("error", "traceback")}),
    )
    readonly_fields = (
        *("message_id", "actor", "queue", "status", "attempts", "retried", "sent"),
        *("available_at", "consumed_at", "mtime", "worker_id"),
        *("arguments", "message_options", "error", "traceback"),
    )

    @admin.display(description="actor")
    def actor(self, job: Job) -> str:
        return job.actor_name

    @admin.display(description="queue")
    def queue(self, job: Job) -> str:
        return job.queue

    @admin.display(description="status")
    def status(self, job: Job) -> str:
        return job_status(job)

    @admin.display(description="failed attempts")
    def attempts(self, job: Job) -> int:
        return job.attempts

    @admin.display(description="retried by an operator")
    def retried(self, job: Job) -> int:
        return int(job.options.get("operator_retries") or 0)

    @admin.display(description="error")
    def error(self, job: Job) -> str:
        return job.error[:200]

    @admin.display(description="sent")
    def sent(self, job: Job) -> datetime | None:
        stamp = job.payload.get("message_timestamp")
        return datetime.fromtimestamp(stamp / 1000, UTC) if isinstance(stamp, int) else None

    @admin.display(description="arguments")
    def arguments(self, job: Job) -> SafeString:
        call = {"args": job.payload.get("args", []), "kwargs": job.payload.get("kwargs", {})}
        return _pre(json.dumps(call, indent=2, ensure_ascii=False, default=str))

    @admin.display(description="options")
    def message_options(self, job: Job) -> SafeString:
        options = {k: v for k, v in job.options.items() if k != "traceback"}
        return _pre(json.dumps(options, indent=2, ensure_ascii=False, default=str))

    @admin.display(description="traceback")
    def traceback(self, job: Job) -> SafeString:
        return _pre(job.traceback or "-")

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        ttl = heartbeat_ttl_seconds()
        queues = [(q, format_age(q.oldest_waiting_seconds)) for q in queue_stats()]
        context = {"ops_queues": queues, "ops_workers": worker_counts(ttl=ttl), "ops_ttl": ttl}
        return super().changelist_view(request, {**(extra_context or {}), **context})

    @admin.action(description="Retry selected failed jobs", permissions=["retry"])
    def retry_failed(self, request: HttpRequest, queryset: QuerySet[Job]) -> None:
        ids = [str(pk) for pk in queryset.values_list("message_id", flat=True)]
        retried = failed_jobs_retry(message_ids=ids)
        logger.info("%s retried %d failed job(s): %s", request.user, retried, ", ".join(ids))
        self._report(request, retried, len(ids), "retried")

    @admin.action(description="Discard selected failed jobs", permissions=["discard"])
    def discard_failed(self, request: HttpRequest, queryset: QuerySet[Job]) -> None:
        ids = [str(pk) for pk in queryset.values_list("message_id", flat=True)]
        discarded = failed_jobs_discard(message_ids=ids)
        logger.info("%s discarded %d failed job(s): %s", request.user, discarded, ", ".join(ids))
        self._report(request, discarded, len(ids), "discarded")

    def _report(self, request: HttpRequest, done: int, selected: int, verb: str) -> None:
        self.message_user(request, f"{done} failed job(s) {verb}.", messages.SUCCESS)
        if selected > done:
            self.message_user(
                request,
                f"{selected - done} selected job(s) left alone: only failed jobs can be {verb}.",
                messages.WARNING,
            )

    def has_retry_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("jobs.change_job")

    def has_discard_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("jobs.delete_job")

    # The rows belong to the broker: no edits through forms, which would write
    # whole rows back over a worker's concurrent update.
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Job | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Job | None = None) -> bool:
        return False


@admin.register(Worker)
class WorkerAdmin(admin.ModelAdmin[Worker]):
    list_display = ("worker_id", "status", "heartbeat_at", "heartbeat_age", "running_jobs")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Worker]:
        running = (
            Job.objects.filter(worker_id=OuterRef("worker_id"), state=Job.State.CONSUMED)
            .order_by()
            .values("worker_id")
            .annotate(n=Count("message_id"))
            .values("n")
        )
        return (
            super()
            .get_queryset(request)
            .annotate(running=Coalesce(Subquery(running, output_field=IntegerField()), 0))
        )

    @admin.display(description="status")
    def status(self, worker: Worker) -> str:
        age = (timezone.now() - worker.heartbeat_at).total_seconds()
        return "live" if age < heartbeat_ttl_seconds() else "dead"

    @admin.display(description="since last heartbeat")
    def heartbeat_age(self, worker: Worker) -> str:
        return format_age((timezone.now() - worker.heartbeat_at).total_seconds())

    @admin.display(description="claimed jobs")
    def running_jobs(self, worker: Worker) -> int:
        return int(getattr(worker, "running", 0))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Worker | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Worker | None = None) -> bool:
        return False
