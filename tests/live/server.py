"""A real uvicorn serving the project on the test database, and a small SSE client."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests
from django.db import connection

from backend.live.listener import APPLICATION_NAME
from tests.conftest import ROOT, database_url, wait_for

WEB_APPLICATION_NAME = "lagless-test-web"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class WebServer:
    """`uvicorn backend.asgi:application` in its own process group."""

    def __init__(self, log_path: Path, env: dict[str, str]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self._log = log_path.open("ab")
        self.process = subprocess.Popen(
            [
                sys.executable,
                *("-m", "uvicorn", "backend.asgi:application"),
                *("--host", "127.0.0.1", "--port", str(self.port)),
                *("--lifespan", "off", "--timeout-graceful-shutdown", "1"),
            ],
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_for(self._answers, timeout=30, what=f"uvicorn on {self.url}")

    def _answers(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"uvicorn exited:\n{self.log()[-3000:]}")
        try:
            return requests.get(f"{self.url}/healthz", timeout=5).status_code == 200
        except requests.ConnectionError:
            return False

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)
        self._log.close()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def web_env(media_root: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=database_url(),
        DJANGO_SETTINGS_MODULE="tests.live.web_settings",
        ENV_NAME="dev",
        MEDIA_ROOT=str(media_root),
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


def login(base_url: str, username: str, password: str) -> requests.Session:
    """A requests session signed in through the real login form."""
    session = requests.Session()
    session.get(f"{base_url}/accounts/login/", timeout=10).raise_for_status()
    response = session.post(
        f"{base_url}/accounts/login/",
        data={
            "username": username,
            "password": password,
            "csrfmiddlewaretoken": session.cookies["csrftoken"],
        },
        allow_redirects=False,
        timeout=10,
    )
    assert response.status_code == 302, response.text[:500]
    return session


def connection_count(application_name: str) -> int:
    """Connections to the test database opened under `application_name`."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND application_name = %s",
            [application_name],
        )
        return int(cursor.fetchone()[0])


def listener_connections() -> int:
    return connection_count(APPLICATION_NAME)


def listener_pids() -> set[int]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity"
            " WHERE datname = current_database() AND application_name = %s",
            [APPLICATION_NAME],
        )
        return {int(row[0]) for row in cursor.fetchall()}


class EventStream:
    """A server-sent-events client on top of requests, read from the calling thread."""

    def __init__(
        self, session: requests.Session, url: str, headers: dict[str, str] | None = None
    ) -> None:
        self.response = session.get(url, stream=True, headers=headers or {}, timeout=(5, 15))
        self.pings = 0
        self.retry: int | None = None
        self._chunks = self.response.iter_content(chunk_size=None)
        self._buffer = ""

    def next_event(self, timeout: float = 20.0) -> dict[str, Any]:
        """The next event as {"id", "event", "data"}, counting pings and `retry:` on the way."""
        deadline = time.monotonic() + timeout
        while True:
            event = self._parse(self._block(deadline, timeout))
            if event is not None:
                return event

    def next_ping(self, timeout: float = 5.0) -> None:
        """Read up to the next heartbeat; an event on the way is an error."""
        deadline = time.monotonic() + timeout
        pings = self.pings
        while self.pings == pings:
            event = self._parse(self._block(deadline, timeout))
            assert event is None, f"unexpected event {event}"

    def _block(self, deadline: float, timeout: float) -> str:
        while "\n\n" not in self._buffer:
            if time.monotonic() > deadline:
                raise AssertionError(f"nothing within {timeout}s")
            self._buffer += next(self._chunks).decode()
        block, self._buffer = self._buffer.split("\n\n", 1)
        return block

    def _parse(self, block: str) -> dict[str, Any] | None:
        fields: dict[str, Any] = {}
        for line in block.split("\n"):
            if line.startswith(":"):
                self.pings += line == ": ping"
                continue
            name, _, value = line.partition(": ")
            fields[name] = value
        if "retry" in fields:
            self.retry = int(fields.pop("retry"))
        if "data" not in fields:
            return None
        fields["data"] = json.loads(fields["data"])
        return fields

    def close(self) -> None:
        self.response.close()
