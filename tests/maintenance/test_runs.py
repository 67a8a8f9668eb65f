"""Scheduled runs: one message per tick even when schedulers race, idempotent execution."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection, connections, transaction

from backend.maintenance.models import ScheduledRun
from backend.maintenance.report import Report
from backend.maintenance.runs import scheduled_run_enqueue, scheduled_run_execute
from backend.maintenance.schedules import schedule_get
from tests.conftest import queued_messages, wait_for

IMAGES = schedule_get("cleanup_images")
TICK = datetime(2026, 3, 29, 1, 17, tzinfo=UTC)


def test_a_tick_is_enqueued_once_with_its_row(clean_queue):
    first = scheduled_run_enqueue(schedule=IMAGES, tick=TICK)
    again = scheduled_run_enqueue(schedule=IMAGES, tick=TICK)

    assert first is not None
    assert again is None
    [message] = queued_messages("cleanup_images")
    assert (message["args"], message["queue_name"]) == ([first.pk], "maintenance")
    assert str(ScheduledRun.objects.get().message_id) == message["message_id"]


def test_an_older_tick_than_the_latest_recorded_is_never_enqueued(clean_queue):
    scheduled_run_enqueue(schedule=IMAGES, tick=TICK)
    assert scheduled_run_enqueue(schedule=IMAGES, tick=TICK - timedelta(hours=5)) is None
    assert len(queued_messages("cleanup_images")) == 1


def test_a_rolled_back_enqueue_leaves_neither_row_nor_message(clean_queue):
    with pytest.raises(RuntimeError), transaction.atomic():
        scheduled_run_enqueue(schedule=IMAGES, tick=TICK)
        raise RuntimeError("the scheduler died before commit")
    assert ScheduledRun.objects.count() == 0
    assert queued_messages() == []
    # So the tick is still due for whoever leads next.
    assert scheduled_run_enqueue(schedule=IMAGES, tick=TICK) is not None


def test_racing_schedulers_enqueue_a_tick_once(clean_queue):
    """Two transactions insert the same tick; the second waits, then sends nothing."""
    outcome: dict[str, object] = {}
    first_in = threading.Event()
    release_first = threading.Event()

    def first() -> None:
        try:
            with transaction.atomic():
                outcome["first"] = scheduled_run_enqueue(schedule=IMAGES, tick=TICK)
                first_in.set()
                release_first.wait(30)
        finally:
            first_in.set()
            connection.close()

    def second() -> None:
        try:
            outcome["second"] = scheduled_run_enqueue(schedule=IMAGES, tick=TICK)
        finally:
            connection.close()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    threads[0].start()
    assert first_in.wait(30)
    threads[1].start()
    wait_for(lambda: _waiting_on_a_lock(), what="the second insert to block on the first")
    release_first.set()
    for thread in threads:
        thread.join(30)

    assert isinstance(outcome["first"], ScheduledRun)
    assert outcome["second"] is None
    assert len(queued_messages("cleanup_images")) == 1


def _waiting_on_a_lock() -> bool:
    with connections["default"].cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock'"
        )
        row = cursor.fetchone()
    return bool(row and row[0])


def _run(tick: datetime, **fields) -> ScheduledRun:
    return ScheduledRun.objects.create(schedule="cleanup_images", tick=tick, **fields)


def _work(calls: list[str]):
    def work(source: str) -> Report:
        calls.append(source)
        report = Report("cleanup_images", False, source)
        report.count("things", 2)
        return report

    return work


def test_a_run_records_its_start_end_and_outcome(db):
    run, calls = _run(TICK), list[str]()
    scheduled_run_execute(run_id=run.pk, work=_work(calls))

    run.refresh_from_db()
    assert (run.state, run.executions) == ("done", 1)
    assert run.started_at is not None and run.finished_at is not None
    assert run.finished_at >= run.started_at
    assert run.outcome == "cleanup_images: things: 2"
    assert calls == [f"scheduled run {run.pk} (cleanup_images at 2026-03-29 01:17:00+0000)"]


def test_a_redelivered_finished_run_does_nothing_but_count(db):
    run, calls = _run(TICK), list[str]()
    scheduled_run_execute(run_id=run.pk, work=_work(calls))
    scheduled_run_execute(run_id=run.pk, work=_work(calls))

    run.refresh_from_db()
    assert (run.state, run.executions, len(calls)) == ("done", 2, 1)


def test_a_late_run_is_skipped_only_when_a_run_started_after_its_tick(db):
    late, calls = _run(TICK), list[str]()
    # A run that started before this tick was due does not cover it...
    _run(TICK - timedelta(hours=1), state="done", started_at=TICK - timedelta(seconds=1))
    scheduled_run_execute(run_id=late.pk, work=_work(calls))
    late.refresh_from_db()
    assert (late.state, len(calls)) == ("done", 1)

    # ...one that started after it does: its work saw everything this tick would.
    later_tick = TICK + timedelta(hours=1)
    lagging = _run(later_tick)
    _run(later_tick + timedelta(hours=1), state="done", started_at=later_tick + timedelta(hours=2))
    scheduled_run_execute(run_id=lagging.pk, work=_work(calls))
    lagging.refresh_from_db()
    assert (lagging.state, lagging.executions, len(calls)) == ("skipped", 1, 1)
    assert lagging.outcome.startswith("covered by run ")


def test_a_failing_run_is_marked_failed_and_raises_for_a_retry(db):
    run = _run(TICK)

    def work(source: str) -> Report:
        raise ConnectionError("store unreachable")

    with pytest.raises(ConnectionError):
        scheduled_run_execute(run_id=run.pk, work=work)
    run.refresh_from_db()
    assert (run.state, run.outcome) == ("failed", "ConnectionError: store unreachable")

    calls: list[str] = []
    scheduled_run_execute(run_id=run.pk, work=_work(calls))  # the retry
    run.refresh_from_db()
    assert (run.state, run.executions, len(calls)) == ("done", 2, 1)
