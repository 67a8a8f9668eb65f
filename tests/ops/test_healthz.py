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
def web_without_database(tmp_path):
    port = free_port()
    env = dict(
        os.environ,
        DATABASE_URL=f"postgresql://nobody@127.0.0.1:{free_port()}/gone",
        ENV_NAME="test",
        SECRET_KEY="s" * 50,
        ALLOWED_HOSTS="127.0.0.1",
        CONTACT_RECIPIENTS="ops@example.org",
        PHOTO_STORAGE="local",
        STATIC_ROOT=str(tmp_path / "static"),
    )
    # Outside dev, pages link hashed static names from collectstatic's manifest.
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--no-input", "-v0"],
        cwd=ROOT,
        env=env,
        check=True,
    )
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


def test_pages_answer_503_not_a_traceback_while_the_database_is_down(web_without_database):
    session = requests.Session()
    wait_for(lambda: (answer_or_none(session, f"{web_without_database}/healthz"),)[0], timeout=30)
    login = session.get(f"{web_without_database}/accounts/login/", timeout=10)
    assert login.status_code == 200  # needs no database
    response = session.post(
        f"{web_without_database}/accounts/login/",
        data={
            "username": "alice",
            "password": "whatever",
            "csrfmiddlewaretoken": session.cookies["csrftoken"],
        },
        headers={"Referer": f"{web_without_database}/accounts/login/"},
        timeout=10,
    )
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert "Back in a moment" in response.text
    assert "Traceback" not in response.text


def answer_or_none(session, url):
    try:
        return session.get(url, timeout=10).status_code
    except requests.ConnectionError:
        return None
