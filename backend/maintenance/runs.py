"""Scheduled runs: each tick enqueued once, each delivery executed idempotently.

The row and the message are written in one transaction on Django's connection,
so a tick is enqueued if and only if its row exists, and the unique constraint
on (schedule, tick) lets only one scheduler win a race for a tick.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

import dramatiq
from django.db import transaction
from django.db.models.functions import Now

from backend.maintenance.locks import job_lock
from backend.maintenance.models import ScheduledRun
from backend.maintenance.report import Report
from backend.maintenance.schedules import Schedule, schedule_get

logger = logging.getLogger(__name__)

State = ScheduledRun.State
FINAL = (State.DONE, State.SKIPPED)


def scheduled_run_enqueue(*, schedule: Schedule, tick: datetime) -> ScheduledRun | None:
    """Record ``tick`` and send its message in one transaction; None if it is not new.

    A tick at or before the schedule's latest recorded one is never enqueued:
    a scheduler back from downtime enqueues only the latest missed tick.
    """
    # Imported here because the actors import this module.
    import actors.maintenance  # noqa: F401

    actor = dramatiq.get_broker().get_actor(schedule.actor_name)
    with transaction.atomic():
        if ScheduledRun.objects.filter(schedule=schedule.name, tick__gte=tick).exists():
            return None
        # A racing scheduler's insert makes this one wait, then get its row.
        run, created = ScheduledRun.objects.get_or_create(
            schedule=schedule.name, tick=tick, defaults={"enqueued_at": Now()}
        )
        if not created:
            return None
        message = actor.send(run.pk)
        run.message_id = message.message_id
        run.save(update_fields=["message_id"])
    return run


def scheduled_run_execute(*, run_id: int, work: Callable[[str], Report]) -> None:
    """Run a tick's job unless it already ran or a later-started run covered it.

    A run covers this tick when it did its work after the tick was due, so a
    late message is never skipped unless its work has been done meanwhile, and
    a backlog after an outage does the work once. Runs of one job never
    overlap (job_lock), so the check sees every run that could cover.
    """
    run = ScheduledRun.objects.filter(pk=run_id).first()
    if run is None:
        logger.warning("scheduled run %s does not exist any more; nothing to do", run_id)
        return
    job = schedule_get(run.schedule).actor_name
    with job_lock(job):
        if not _run_begin(run_id):
            return
        try:
            report = work(
                f"scheduled run {run_id} ({run.schedule} at {run.tick:%Y-%m-%d %H:%M:%S%z})"
            )
        except BaseException as exc:
            # BaseException too: dramatiq's time limit interrupts with one.
            _run_end(run_id, State.FAILED, f"{type(exc).__name__}: {exc}")
            raise
        _run_end(run_id, State.DONE, report.summary())


def _run_begin(run_id: int) -> bool:
    with transaction.atomic():
        run = ScheduledRun.objects.select_for_update().get(pk=run_id)
        run.executions += 1
        if run.state in FINAL:
            run.save(update_fields=["executions"])
            logger.info("scheduled run %s already %s; nothing to do", run_id, run.state)
            return False
        cover = (
            ScheduledRun.objects.filter(
                schedule=run.schedule, state=State.DONE, started_at__gte=run.tick
            )
            .order_by("started_at")
            .first()
        )
        if cover is not None:
            run.state = State.SKIPPED
            run.finished_at = Now()
            run.outcome = f"covered by run {cover.pk}, which started after this tick was due"
            run.save(update_fields=["executions", "state", "finished_at", "outcome"])
            logger.info("scheduled run %s skipped: %s", run_id, run.outcome)
            return False
        run.state = State.RUNNING
        run.started_at = Now()
        run.save(update_fields=["executions", "state", "started_at"])
    return True


def _run_end(run_id: int, state: str, outcome: str) -> None:
    ScheduledRun.objects.filter(pk=run_id).update(state=state, finished_at=Now(), outcome=outcome)
    logger.info("scheduled run %s %s: %s", run_id, state, outcome)
