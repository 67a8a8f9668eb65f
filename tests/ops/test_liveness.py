"""``manage.py checkliveness``: what an orchestrator's probe sees, run as a real process."""

from __future__ import annotations

import signal
import subprocess
import sys

import psycopg
import pytest
from django.urls import reverse

from backend.maintenance.leader import LOCK_CLASS, LOCK_ID
from tests.conftest import ROOT, database_url, wait_for, worker_env

pytestmark = pytest.mark.worker


def checkliveness(media_root, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", "checkliveness", *args],
        cwd=ROOT,
        env=worker_env(media_root),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_worker_check_fails_with_no_worker_and_passes_with_one(
    media_root, start_worker, admin_client, settings
):
    result = checkliveness(media_root, "--worker")
    assert result.returncode == 1
    assert "no live worker: last heartbeat never" in result.stderr

    worker = start_worker()
    result = wait_for(
        lambda: (r := checkliveness(media_root, "--worker")).returncode == 0 and r,
        timeout=60,
        what="a heartbeat",
    )
    assert "worker ok: 1 live" in result.stdout
    page = admin_client.get(reverse("admin:jobs_worker_changelist")).content.decode()
    assert ">live<" in page

    worker.stop(signal.SIGKILL)  # no goodbye: only the heartbeat going stale tells
    result = wait_for(
        lambda: (
            (r := checkliveness(media_root, "--worker", "--max-age", "2")).returncode == 1 and r
        ),
        timeout=30,
        what="the heartbeat to go stale",
    )
    assert "no live worker: last heartbeat" in result.stderr
    # The console applies the same rule with the settings' TTL.
    broker = settings.DRAMATIQ_BROKER
    settings.DRAMATIQ_BROKER = {**broker, "OPTIONS": {**broker["OPTIONS"], "heartbeat_ttl": 2.0}}
    page = admin_client.get(reverse("admin:jobs_worker_changelist")).content.decode()
    assert (">dead<" in page, ">live<" in page) == (True, False)


def test_scheduler_check_follows_the_leader_lock(media_root, transactional_db):
    assert checkliveness(media_root, "--scheduler").returncode == 1
    with psycopg.connect(database_url(), autocommit=True) as leader:
        # The lock runperiodiq takes (backend/maintenance/leader.py).
        leader.execute("SELECT pg_advisory_lock(%s, %s)", [LOCK_CLASS, LOCK_ID])
        result = checkliveness(media_root, "--scheduler")
        assert result.returncode == 0, result.stderr
        assert "scheduler ok" in result.stdout
        # Another key, or the same numbers as one bigint key, is not the leader.
        leader.execute("SELECT pg_advisory_unlock(%s, %s)", [LOCK_CLASS, LOCK_ID])
        leader.execute("SELECT pg_advisory_lock(%s, %s)", [LOCK_CLASS, LOCK_ID + 1])
        leader.execute("SELECT pg_advisory_lock(%s)", [(LOCK_CLASS << 32) | LOCK_ID])
        assert checkliveness(media_root, "--scheduler").returncode == 1
    result = checkliveness(media_root, "--scheduler")
    assert result.returncode == 1
    assert "no scheduler holds the leader lock" in result.stderr


def test_check_fails_when_the_database_is_unreachable(media_root, db):
    env = worker_env(media_root, DATABASE_URL="postgresql://nobody@127.0.0.1:9/gone")
    result = subprocess.run(
        [sys.executable, "manage.py", "checkliveness", "--worker"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "database unavailable" in result.stderr


def test_check_needs_to_be_told_what_to_check(media_root, db):
    result = checkliveness(media_root)
    assert result.returncode == 1
    assert "--worker and/or --scheduler" in result.stderr
