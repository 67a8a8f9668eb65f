"""Real `runperiodiq` processes and a real worker on the test database.

The fast grid (MAINTENANCE_TEST_TICK_SECONDS) makes every schedule fire every
few seconds; the downtime test runs the declared cron schedules themselves.
"""

from __future__ import annotations

import itertools
import re
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from backend.maintenance.models import DeletionRecord, ScheduledRun
from backend.maintenance.schedules import SCHEDULES
from backend.profiles.models import PhotoJob
from tests.conftest import cf_env, wait_for
from tests.maintenance.conftest import (
    cf_upload,
    done_runs,
    foreign_name,
    job_names,
    leader_pid,
    local_file,
    photo_job,
    profile_pointing_at,
    runs,
    scheduled_run_at,
)

pytestmark = pytest.mark.worker

NAMES = [schedule.name for schedule in SCHEDULES]
FINISHED = (ScheduledRun.State.DONE, ScheduledRun.State.SKIPPED)


def fast(seconds: int, **env: str) -> dict[str, str]:
    return {"MAINTENANCE_TEST_TICK_SECONDS": str(seconds), **env}


def db_now():
    with connection.cursor() as cursor:
        cursor.execute("SELECT clock_timestamp()")
        return cursor.fetchone()[0]


def all_finished() -> bool:
    return not ScheduledRun.objects.exclude(state__in=FINISHED).exists()


def assert_each_tick_ran_once(every: timedelta) -> None:
    for name in NAMES:
        found = runs(name)
        ticks = [run.tick for run in found]
        assert ticks, name
        assert {b - a for a, b in itertools.pairwise(ticks)} <= {every}, (name, ticks)
        assert {(run.state in FINISHED, run.executions) for run in found} == {(True, 1)}, name


def executed(worker_log: str, actor: str) -> set[str]:
    """Message ids of the jobs the worker ran successfully for ``actor``."""
    return set(re.findall(rf"job actor={actor} message_id=(\S+) .* outcome=ok", worker_log))


def test_scheduled_cleanup_deletes_local_orphans_and_keeps_referenced_and_in_flight_images(
    alice, bob, media_root, start_worker, start_scheduler
):
    current = photo_job(alice)
    replaced = photo_job(alice, PhotoJob.State.FAILED)
    in_flight = photo_job(bob, PhotoJob.State.PROCESSING)
    profile_pointing_at(alice, current, "local")
    for job in (current, replaced, in_flight):
        for name in job_names(job):
            local_file(media_root, name, age=timedelta(hours=2))
    young = local_file(media_root, foreign_name(), age=timedelta(0))
    env = fast(2, CLEANUP_GRACE_SECONDS="3600")
    start_worker(**env)
    start_scheduler(**env)

    wait_for(
        lambda: not any((media_root / n).exists() for n in job_names(replaced)),
        timeout=60,
        what="the replaced photo's files to be deleted",
    )
    wait_for(lambda: len(done_runs("cleanup_images")) >= 3, timeout=60, what="more runs")

    for job in (current, in_flight):
        assert all((media_root / n).exists() for n in job_names(job))
    assert young.exists()
    [deleter] = [r for r in done_runs("cleanup_images") if "deleted images: 2" in r.outcome]
    records = DeletionRecord.objects.all()
    assert {r.what for r in records} == set(job_names(replaced))
    assert {r.source.split(" (")[0] for r in records} == {f"scheduled run {deleter.pk}"}


def test_scheduled_cleanup_deletes_cloudflare_orphans_once_past_the_grace_period(
    alice, bob, fake_cf, start_worker, start_scheduler
):
    env = fast(2, CLEANUP_GRACE_SECONDS="6", **cf_env(fake_cf))
    start_worker(**env)
    start_scheduler(**env)
    wait_for(lambda: done_runs("cleanup_images"), timeout=60, what="a first, empty run")

    current = photo_job(alice)
    replaced = photo_job(alice, PhotoJob.State.FAILED)
    in_flight = photo_job(bob, PhotoJob.State.QUEUED)
    profile_pointing_at(alice, current, "cloudflare_images")
    for job in (current, replaced, in_flight):
        for name in job_names(job):
            cf_upload(name)
    uploaded = timezone.now()

    wait_for(
        lambda: not set(job_names(replaced)) & set(fake_cf.images),
        timeout=60,
        what="the orphans to be deleted at Cloudflare",
    )
    assert set(fake_cf.images) == {*job_names(current), *job_names(in_flight)}
    records = DeletionRecord.objects.filter(where="cloudflare_images", dry_run=False)
    assert {r.what for r in records} == set(job_names(replaced))
    assert all(r.when - uploaded >= timedelta(seconds=6) for r in records)
    # Runs in between kept them while they were young.
    assert any("kept: in grace period" in r.outcome for r in done_runs("cleanup_images"))


def test_two_schedulers_enqueue_and_run_each_tick_exactly_once(start_worker, start_scheduler):
    worker = start_worker(**fast(3))
    schedulers = [start_scheduler(**fast(3)), start_scheduler(**fast(3))]

    wait_for(lambda: len(done_runs("cleanup_images")) >= 5, timeout=60, what="five ticks")
    [leader] = [s for s in schedulers if s.pid == leader_pid()]
    [standby] = [s for s in schedulers if s is not leader]
    # The standby first, or it would take over from the stopping leader.
    standby.stop()
    leader.stop()
    wait_for(all_finished, timeout=60, what="the last runs to finish")

    assert_each_tick_ran_once(timedelta(seconds=3))
    # One message per run: the worker logs each job once it has returned.
    sent = {name: {str(run.message_id) for run in runs(name)} for name in NAMES}
    wait_for(
        lambda: all(executed(worker.log(), name) >= sent[name] for name in NAMES),
        timeout=30,
        what="the worker to log every job",
    )
    for name in NAMES:
        assert executed(worker.log(), name) == sent[name], name
    assert "is now the leader" in leader.log()
    assert f"standing by; leader: lagless-scheduler pid={leader.pid}" in standby.log()
    assert "is now the leader" not in standby.log()
    assert "enqueued run" not in standby.log()


def test_killing_the_leader_hands_over_before_the_next_tick(start_worker, start_scheduler):
    start_worker(**fast(3))
    first, second = start_scheduler(**fast(3)), start_scheduler(**fast(3))
    leader_id = wait_for(leader_pid, timeout=60, what="a leader")
    leader, standby = (first, second) if leader_id == first.pid else (second, first)
    wait_for(lambda: len(done_runs("cleanup_images")) >= 2, timeout=60, what="two ticks")

    leader.kill()
    killed_at, killed = db_now(), time.monotonic()
    wait_for(lambda: leader_pid() == standby.pid, timeout=30, what="the standby to lead")
    handover = time.monotonic() - killed
    assert handover < 3.0, f"the standby took {handover:.1f} s, longer than a tick"
    wait_for(
        lambda: len([r for r in done_runs("cleanup_images") if r.tick > killed_at]) >= 3,
        timeout=60,
        what="three ticks after the kill",
    )
    standby.stop()
    wait_for(all_finished, timeout=60, what="the last runs to finish")

    # No gap in the ticks: the one due during the hand-over was enqueued late, not lost.
    assert_each_tick_ran_once(timedelta(seconds=3))
    assert "is now the leader" in standby.log()


def test_after_downtime_each_schedule_runs_its_latest_missed_tick_once(
    media_root, start_worker, start_scheduler
):
    """Eight days down: ~190 hourly ticks, 8 nightly ones and a Sunday one were missed."""
    down_since = timezone.now() - timedelta(days=8)
    for schedule in SCHEDULES:
        timing = schedule.cron_timing()
        scheduled_run_at(schedule.name, timing.latest_at_or_before(down_since))
    orphan = local_file(media_root, foreign_name(), age=timedelta(days=9))
    back_at = db_now()
    start_worker()
    scheduler = start_scheduler()

    wait_for(
        lambda: all(done_runs(name)[-1].tick > down_since for name in NAMES),
        timeout=60,
        what="every schedule to catch up",
    )
    wait_for(all_finished, timeout=60, what="the catch-up runs to finish")

    checked_at = db_now()
    for schedule in SCHEDULES:
        timing = schedule.cron_timing()
        new = [r for r in runs(schedule.name) if r.tick > down_since]
        # One run per schedule: the tick due when the scheduler came back (and
        # the next one too, if it fell due during the test).
        due = sorted({timing.latest_at_or_before(moment) for moment in (back_at, checked_at)})
        assert [r.tick for r in new] == due, schedule.name
        assert {(r.state, r.executions) for r in new} == {("done", 1)}
    assert not orphan.exists()
    enqueued = ScheduledRun.objects.filter(tick__gt=down_since).count()
    wait_for(lambda: scheduler.log().count("enqueued run") >= enqueued, what="the tick log lines")
    assert scheduler.log().count("enqueued run") == enqueued
