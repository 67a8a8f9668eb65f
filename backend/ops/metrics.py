"""The /metrics page in Prometheus text format.

Counters come from ``jobs_jobcounter``, which every worker and web process
adds to (backend/jobs/metrics.py), so one scrape of any web process sees the
whole system. Gauges (queue depth, oldest waiting job, workers, photo and
contact outcomes) are counted in the database at scrape time.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from django.apps import apps
from django.db.models import Count, Model

from backend.jobs.metrics import DURATION_BUCKETS, INF
from backend.jobs.models import JobCounter
from backend.ops.liveness import scheduler_leader_present, worker_counts
from backend.ops.queue import queue_stats
from backend.profiles.models import PhotoJob

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
PROCESSED_OUTCOMES = ("succeeded", "retried", "failed", "skipped")

Labels = dict[str, str]
Sample = tuple[str, Labels, float]


class Exposition:
    def __init__(self) -> None:
        self._lines: list[str] = []

    def family(self, name: str, kind: str, text: str, samples: Iterable[Sample]) -> None:
        self._lines.append(f"# HELP {name} {text}")
        self._lines.append(f"# TYPE {name} {kind}")
        for sample_name, labels, value in samples:
            self._lines.append(f"{sample_name}{_labels(labels)} {_number(value)}")

    def text(self) -> str:
        return "\n".join(self._lines) + "\n"


def _labels(labels: Labels) -> str:
    if not labels:
        return ""
    pairs = ",".join(f'{key}="{_escape(value)}"' for key, value in labels.items())
    return "{" + pairs + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def metrics_render() -> str:
    out = Exposition()
    _job_counters(out)
    _queue_gauges(out)
    _process_gauges(out)
    _outcome_gauges(out)
    return out.text()


def _job_counters(out: Exposition) -> None:
    counters: dict[tuple[str, str], dict[str, int]] = defaultdict(dict)
    for actor, metric, label, value in JobCounter.objects.values_list(
        "actor", "metric", "label", "value"
    ).order_by("actor"):
        counters[(actor, metric)][label] = value
    actors = sorted({actor for actor, _ in counters})
    out.family(
        "lagless_jobs_enqueued_total",
        "counter",
        "Jobs sent, counted once each when first due.",
        (
            ("lagless_jobs_enqueued_total", {"actor": a}, counters[(a, "enqueued")].get("", 0))
            for a in actors
        ),
    )
    out.family(
        "lagless_jobs_processed_total",
        "counter",
        "Attempts by outcome: succeeded; retried (raised, will run again); "
        "failed (raised, given up); skipped.",
        (
            (
                "lagless_jobs_processed_total",
                {"actor": a, "outcome": o},
                counters[(a, "processed")].get(o, 0),
            )
            for a in actors
            for o in PROCESSED_OUTCOMES
        ),
    )
    out.family(
        "lagless_job_duration_seconds",
        "histogram",
        "Time an attempt ran in the actor.",
        (sample for a in actors for sample in _histogram(a, counters)),
    )


def _histogram(actor: str, counters: dict[tuple[str, str], dict[str, int]]) -> list[Sample]:
    buckets = counters[(actor, "duration_bucket")]
    name = "lagless_job_duration_seconds"
    samples: list[Sample] = []
    running = 0
    for bound in (*[str(b) for b in DURATION_BUCKETS], INF):
        running += buckets.get(bound, 0)
        samples.append((f"{name}_bucket", {"actor": actor, "le": bound}, running))
    total_ms = counters[(actor, "duration_ms_sum")].get("", 0)
    samples.append((f"{name}_sum", {"actor": actor}, total_ms / 1000))
    samples.append((f"{name}_count", {"actor": actor}, running))
    return samples


def _queue_gauges(out: Exposition) -> None:
    stats = queue_stats()
    out.family(
        "lagless_queue_jobs",
        "gauge",
        "Jobs in the queue by state (waiting, delayed, running, failed).",
        (
            ("lagless_queue_jobs", {"queue": q.name, "state": state}, getattr(q, state))
            for q in stats
            for state in ("waiting", "delayed", "running", "failed")
        ),
    )
    out.family(
        "lagless_queue_oldest_waiting_seconds",
        "gauge",
        "How long the oldest due, unclaimed job has waited (0 when none).",
        (
            (
                "lagless_queue_oldest_waiting_seconds",
                {"queue": q.name},
                q.oldest_waiting_seconds or 0,
            )
            for q in stats
        ),
    )


def _process_gauges(out: Exposition) -> None:
    workers = worker_counts()
    out.family(
        "lagless_workers",
        "gauge",
        "Worker processes by heartbeat: live (fresher than the TTL) or dead.",
        [
            ("lagless_workers", {"status": "live"}, workers.live),
            ("lagless_workers", {"status": "dead"}, workers.dead),
        ],
    )
    out.family(
        "lagless_scheduler_leader",
        "gauge",
        "1 while a scheduler holds the leader lock.",
        [("lagless_scheduler_leader", {}, int(scheduler_leader_present()))],
    )


def _outcome_gauges(out: Exposition) -> None:
    photo_states = [value for value, _ in PhotoJob.State.choices]
    out.family(
        "lagless_photo_jobs",
        "gauge",
        "Photo uploads by state.",
        _counts_by("lagless_photo_jobs", PhotoJob, "state", photo_states),
    )
    contact = _contact_model()
    if contact is not None:
        model, field = contact
        out.family(
            "lagless_contact_messages",
            "gauge",
            f"Contact messages by {field} (emails sent: {field}=sent).",
            _counts_by("lagless_contact_messages", model, field, _choices(model, field)),
        )


def _counts_by(name: str, model: type[Model], field: str, known: list[str]) -> list[Sample]:
    counts = dict.fromkeys(known, 0)
    for value, n in model._default_manager.values_list(field).annotate(n=Count("pk")).order_by():
        counts[str(value)] = n
    return [(name, {"state": state}, n) for state, n in sorted(counts.items())]


def _contact_model() -> tuple[type[Model], str] | None:
    """The contact app's ContactMessage and its state field, when that app has them."""
    try:
        model = apps.get_model("contact", "ContactMessage")
    except LookupError:
        return None
    names = {field.name for field in model._meta.get_fields()}
    field = next((name for name in ("state", "status") if name in names), None)
    return None if field is None else (model, field)


def _choices(model: type[Model], field: str) -> list[str]:
    choices: Any = getattr(model._meta.get_field(field), "choices", None) or []
    return [str(value) for value, _ in choices]
