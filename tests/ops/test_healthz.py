"""/healthz answers 200 while the database does, 503 (not a traceback) when it does not."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest
import requests

from tests.conftest import ROOT, wait_for


def test_healthz_is_ok_when_the_database_answers(client, db):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}
    assert "no-cache" in response["Cache-Control"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def web_without_database():
    port = free_port()
    env = dict(os.environ, DATABASE_URL=f"postgresql://nobody@127.0.0.1:{free_port()}/gone")
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "backend.asgi:application", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    yield f"http://127.0.0.1:{port}"
    process.terminate()
    process.wait(10)


def test_healthz_is_503_when_the_database_is_unreachable(web_without_database):
    def answer():
        # A tuple, because a 503 Response is falsy and would look like "not yet".
        try:
            return (requests.get(f"{web_without_database}/healthz", timeout=10),)
        except requests.ConnectionError:
            return None

    [response] = wait_for(answer, timeout=30, what="uvicorn to answer")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "database": "OperationalError"}
