"""The compose services' commands and health checks, run as real processes outside Docker.

Each runs with its compose environment, pointed at the test database (and a
free port, a temporary media directory), and must come up and pass its own
health check.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import database_url, wait_for
from tests.deploy.project import ROOT, healthcheck_command, load_compose, replace_option

pytestmark = pytest.mark.worker


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def service_env(media_root: Path, clean_queue: None):
    def env(name: str) -> dict[str, str]:
        service = load_compose()["services"][name]
        return {
            **os.environ,
            **service["environment"],
            "DATABASE_URL": database_url(),
            "MEDIA_ROOT": str(media_root),
            "PYTHONUNBUFFERED": "1",
        }

    return env


def local(argv: list[str]) -> list[str]:
    """The image's ``python`` is this test's interpreter."""
    assert argv[0] == "python"
    return [sys.executable, *argv[1:]]


def run(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        local(argv), cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    started: list[tuple[subprocess.Popen[bytes], Path]] = []

    def start(argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        log = tmp_path / f"service-{len(started)}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                local(argv),
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        started.append((process, log))
        return process

    yield start
    for process, log in started:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGTERM)  # PID 1 only, as Docker does
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)
        sys.stderr.write(f"\n--- {log.name} ---\n{log.read_text(errors='replace')[-3000:]}\n")


def healthy(argv: list[str], env: dict[str, str], process: subprocess.Popen[bytes]):
    assert process.poll() is None, f"the service exited with {process.returncode}"
    result = run(argv, env)
    return result if result.returncode == 0 else None


def test_migrate_service_runs_to_completion(service_env):
    service = load_compose()["services"]["migrate"]
    result = run(service["command"], service_env("migrate"))
    assert result.returncode == 0, result.stderr
    assert "No migrations to apply" in result.stdout


def test_web_service_comes_up_and_passes_its_health_check(service_env, spawn):
    service = load_compose()["services"]["web"]
    port = str(free_port())
    env = service_env("web")
    web = spawn(replace_option(service["command"], "--port", port), env)
    probe = [
        arg.replace("127.0.0.1:8000", f"127.0.0.1:{port}") for arg in healthcheck_command(service)
    ]
    wait_for(lambda: healthy(probe, env, web), timeout=60, interval=0.5, what="web to be healthy")


def test_worker_service_comes_up_and_passes_its_health_check(service_env, spawn):
    service = load_compose()["services"]["worker"]
    env = service_env("worker")
    assert run(healthcheck_command(service), env).returncode == 1  # nothing running yet
    worker = spawn(service["command"], env)
    wait_for(
        lambda: healthy(healthcheck_command(service), env, worker),
        timeout=90,
        interval=0.5,
        what="worker to be healthy",
    )
    os.kill(worker.pid, signal.SIGTERM)
    assert worker.wait(60) == 0


def test_scheduler_service_comes_up_and_passes_its_health_check(service_env, spawn):
    service = load_compose()["services"]["scheduler"]
    env = service_env("scheduler")
    assert run(healthcheck_command(service), env).returncode == 1  # nothing running yet
    scheduler = spawn(service["command"], env)
    wait_for(
        lambda: healthy(healthcheck_command(service), env, scheduler),
        timeout=90,
        interval=0.5,
        what="scheduler to hold the leader lock",
    )
    assert scheduler.poll() is None
