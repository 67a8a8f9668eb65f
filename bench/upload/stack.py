"""The stack an upload run drives: database, fake Cloudflare, uvicorn (app and seed), workers.

Everything runs as in production (ENV_NAME=prod, Procfile commands) on loopback,
with its own database on the given Postgres server and its own static files.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil  # type: ignore[import-untyped,unused-ignore]
import requests

from bench.common import ROOT
from bench.queues.harness import Worker, _free_port, recreate_database

PYTHON = str(ROOT / ".venv" / "bin" / "python")
CF_TOKEN, CF_ACCOUNT, CF_HASH = "bench-token", "bench-account", "bench-hash"


@dataclass
class Stack:
    admin_dsn: str
    cf_latency: float
    worker_threads: int
    logs: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="bench-upload-")))
    env: dict[str, str] = field(default_factory=dict)
    processes: dict[str, Worker] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)

    def prepare(self) -> None:
        dsn = recreate_database(self.admin_dsn, "bench_upload")
        self.ports = {name: _free_port() for name in ("cf", "app", "seed")}
        self.env = {
            **os.environ,
            "ENV_NAME": "prod",
            "SECRET_KEY": "bench-only-secret-key-" + "x" * 40,
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "CONTACT_RECIPIENTS": "ops@example.org",
            "SECURE_COOKIES": "false",
            "DATABASE_URL": dsn,
            "PHOTO_STORAGE": "cloudflare_images",
            "CF_API_BASE": f"http://127.0.0.1:{self.ports['cf']}/client/v4",
            "CF_ACCT_ID": CF_ACCOUNT,
            "CF_IMG_TOKEN": CF_TOKEN,
            "CF_IMG_HASH": CF_HASH,
            "STATIC_ROOT": str(self.logs / "static"),
            "PYTHONUNBUFFERED": "1",
        }
        for command in (["migrate", "--noinput"], ["collectstatic", "--noinput"]):
            subprocess.run([PYTHON, "manage.py", *command, "-v", "0"], cwd=ROOT, env=self.env,
                           check=True)  # fmt: skip

    def start(self) -> None:
        fake = [PYTHON, "bench/fake_cf.py", "--port", str(self.ports["cf"]),
                "--latency", str(self.cf_latency), "--token", CF_TOKEN,
                "--account-id", CF_ACCOUNT, "--account-hash", CF_HASH]  # fmt: skip
        self._spawn("cf", fake, self.env)
        for name, settings in (("app", "backend.settings"), ("seed", "bench.seed_settings")):
            web = [PYTHON, "-m", "uvicorn", "backend.asgi:application",
                   "--host", "127.0.0.1", "--port", str(self.ports[name]),
                   "--no-access-log", "--lifespan", "off"]  # fmt: skip
            self._spawn(name, web, {**self.env, "DJANGO_SETTINGS_MODULE": settings})
        worker = [PYTHON, "manage.py", "rundramatiq", "--processes", "1",
                  "--threads", str(self.worker_threads)]  # fmt: skip
        self._spawn("worker", worker, self.env)
        for name in ("app", "seed"):
            self._wait_healthy(self.url(name))

    def _spawn(self, name: str, command: list[str], env: dict[str, str]) -> None:
        self.processes[name] = Worker(command, env, self.logs / f"{name}.log")

    def _wait_healthy(self, base: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{base}/healthz", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{base} never became healthy; see {self.logs}")

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def cpu_seconds(self, name: str) -> float:
        """CPU time used so far by a process and its children."""
        try:
            root = psutil.Process(self.processes[name].process.pid)
            total = 0.0
            for proc in [root, *root.children(recursive=True)]:
                times = proc.cpu_times()
                total += times.user + times.system
            return total
        except psutil.NoSuchProcess:
            return float("nan")

    def stop(self) -> None:
        for worker in reversed(list(self.processes.values())):
            worker.stop()


def django_setup(env: dict[str, str]) -> None:
    """Configure Django in this process against the bench database (for users and jobs)."""
    os.environ.update(env)
    os.environ["DJANGO_SETTINGS_MODULE"] = "backend.settings"
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def signed_in_users(count: int) -> list[str]:
    """Create `count` users and one signed-in session each; return the session keys."""
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.auth.models import User
    from django.contrib.sessions.backends.db import SessionStore

    users = []
    for i in range(count):
        user = User(username=f"bench-{i}", email=f"bench-{i}@example.org")
        user.set_unusable_password()
        users.append(user)
    User.objects.bulk_create(users)
    keys = []
    for user in User.objects.filter(username__startswith="bench-").order_by("id"):
        # What django.contrib.auth.login() stores, as Client.force_login does.
        session = SessionStore()
        session[SESSION_KEY] = str(user.pk)
        session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
        session[HASH_SESSION_KEY] = user.get_session_auth_hash()
        session.create()
        keys.append(session.session_key or "")
    return keys
