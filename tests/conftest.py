"""Shared fixtures: personas, a real Dramatiq worker process, the fake Cloudflare, deadlines."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "correct horse battery staple"


def database_url() -> str:
    """URL of the database the tests use (the test database once it exists)."""
    db = connection.settings_dict
    auth = quote(db["USER"] or "")
    if db["PASSWORD"]:
        auth += ":" + quote(db["PASSWORD"])
    host = db["HOST"] or ""
    if host.startswith("/"):
        return f"postgresql://{auth}@/{db['NAME']}?host={quote(host)}"
    port = f":{db['PORT']}" if db["PORT"] else ""
    return f"postgresql://{auth}@{host}{port}/{db['NAME']}"


def wait_for(
    condition: Callable[[], Any], *, timeout: float = 30.0, interval: float = 0.05, what: str = ""
) -> Any:
    """Poll `condition` until it returns something truthy, or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what or condition}")
        time.sleep(interval)


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix: None) -> None:
    """Give every pytest run its own test database, so concurrent runs never collide."""
    from django.conf import settings

    databases: dict[str, dict[str, Any]] = settings.DATABASES
    for db in databases.values():
        db.setdefault("TEST", {})["NAME"] = f"test_{db['NAME']}_{os.getpid()}"


@pytest.fixture(scope="session", autouse=True)
def job_counters_written_at_once() -> None:
    """In the test process, counts are written when counted, not by a thread a second later.

    A flushing thread would write one test's counts during the next. Worker
    processes the tests start keep the default, buffered mode.
    """
    from django.conf import settings

    settings.JOB_COUNTERS_FLUSH_SECONDS = 0


@pytest.fixture
def alice(db: None) -> User:
    return User.objects.create_user("alice", "alice@example.com", PASSWORD)


@pytest.fixture
def bob(db: None) -> User:
    return User.objects.create_user("bob", "bob@example.com", PASSWORD)


@pytest.fixture
def alice_client(alice: User) -> Client:
    client = Client()
    client.force_login(alice)
    return client


@pytest.fixture
def bob_client(bob: User) -> Client:
    client = Client()
    client.force_login(bob)
    return client


@pytest.fixture(autouse=True)
def media_root(tmp_path: Path, settings: Any) -> Path:
    root = tmp_path / "media"
    root.mkdir()
    settings.MEDIA_ROOT = root
    return root


@pytest.fixture
def clean_queue(transactional_db: None) -> Iterator[None]:
    """Empty the broker's tables, which Django's flush does not know about."""
    _truncate_queue()
    yield
    _truncate_queue()


def _truncate_queue() -> None:
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE dramatiq.queue, dramatiq.worker, dramatiq.result")


def queued_messages(actor_name: str | None = None) -> list[dict[str, Any]]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT message, state FROM dramatiq.queue ORDER BY position")
        rows = [dict(json.loads(message), _state=state) for message, state in cursor.fetchall()]
    return [row for row in rows if actor_name is None or row["actor_name"] == actor_name]


class WorkerProcess:
    """`manage.py rundramatiq` in its own process group, on the test database."""

    def __init__(self, env: dict[str, str], log_path: Path, args: list[str]) -> None:
        self.log_path = log_path
        self._log = log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "rundramatiq", *args],
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        if self.process.poll() is None:
            if sig == signal.SIGTERM:
                # To the main process only, as Docker and Kubernetes stop a
                # container: it hands the signal on to its worker processes,
                # and a second SIGTERM would kill them without their drain.
                self.process.send_signal(sig)
            else:
                os.killpg(self.process.pid, sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)  # nothing left behind
        self._log.close()
        return self.process.returncode

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def worker_env(media_root: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=database_url(),
        MEDIA_ROOT=str(media_root),
        PYTHONUNBUFFERED="1",
        DRAMATIQ_HEARTBEAT_SECONDS="1",
        DRAMATIQ_HEARTBEAT_TTL_SECONDS="5",
        DRAMATIQ_MAINTENANCE_SECONDS="1",
    )
    env.update(extra)
    return env


@pytest.fixture
def start_worker(
    clean_queue: None, media_root: Path, tmp_path: Path
) -> Iterator[Callable[..., WorkerProcess]]:
    workers: list[WorkerProcess] = []

    def start(*args: str, **env: str) -> WorkerProcess:
        log = tmp_path / f"worker-{len(workers)}.log"
        worker = WorkerProcess(
            worker_env(media_root, **env), log, list(args) or ["--processes", "1", "--threads", "2"]
        )
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.stop()
        sys.stderr.write(f"\n--- {worker.log_path.name} ---\n{worker.log()[-4000:]}\n")


# -- the fake Cloudflare Images server, over real HTTP on loopback ---------------------

CF_TOKEN = "cf-test-token"
CF_ACCOUNT = "acct-lagless"
CF_HASH = "hash-lagless"


@pytest.fixture
def fake_cf(settings: Any) -> Iterator[Any]:
    """The fake server, with this process's photo storage pointed at it."""
    from backend.media.fake_cloudflare import FakeCloudflareImages

    with FakeCloudflareImages(token=CF_TOKEN, account_id=CF_ACCOUNT, account_hash=CF_HASH) as fake:
        settings.PHOTO_STORAGE = "cloudflare_images"
        settings.CF_API_BASE = fake.api_base
        settings.CF_ACCT_ID = CF_ACCOUNT
        settings.CF_IMG_TOKEN = CF_TOKEN
        settings.CF_IMG_HASH = CF_HASH
        yield fake


def cf_env(fake: Any) -> dict[str, str]:
    """Environment that points a worker or scheduler process at the fake server."""
    return {
        "PHOTO_STORAGE": "cloudflare_images",
        "CF_API_BASE": fake.api_base,
        "CF_ACCT_ID": CF_ACCOUNT,
        "CF_IMG_TOKEN": CF_TOKEN,
        "CF_IMG_HASH": CF_HASH,
    }


@pytest.fixture
def cf_worker(
    start_worker: Callable[..., WorkerProcess], fake_cf: Any
) -> Callable[..., WorkerProcess]:
    """Start a worker that stores photos at the fake server (env may override any of it)."""

    def start(*args: str, **env: str) -> WorkerProcess:
        return start_worker(*args, **{**cf_env(fake_cf), **env})

    return start
