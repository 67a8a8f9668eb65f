"""The rate limit holds across two uvicorn processes sharing only the database."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from backend.contact.models import ContactMessage
from tests.conftest import ROOT, database_url, queued_messages, wait_for
from tests.contact.conftest import free_port

LIMIT = 3
FORM = {
    "name": "Rita Repeat",
    "email": "rita@example.net",
    "category": "feedback",
    "message": "Hello again.",
}


def answering(url: str) -> bool:
    try:
        return requests.get(url, timeout=5).status_code == 200
    except requests.ConnectionError:
        return False


@pytest.fixture
def two_web_processes(clean_queue: None, tmp_path: Path) -> Iterator[list[str]]:
    env = dict(
        os.environ,
        DATABASE_URL=database_url(),
        ENV_NAME="dev",
        DEBUG="false",
        CONTACT_RATE_LIMIT=str(LIMIT),
        CONTACT_RATE_WINDOW_MINUTES="60",
    )
    processes, urls, logs = [], [], []
    for index in range(2):
        port = free_port()
        log = (tmp_path / f"web-{index}.log").open("wb")
        logs.append(log)
        command = [sys.executable, "-m", "uvicorn", "backend.asgi:application"]
        processes.append(
            subprocess.Popen(
                [*command, "--port", str(port)],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
        urls.append(f"http://127.0.0.1:{port}")
    wait_for(lambda: all(answering(f"{url}/contact/") for url in urls), timeout=60, what="uvicorn")
    yield urls
    for process, log in zip(processes, logs, strict=True):
        process.terminate()
        process.wait(10)
        log.close()


def form_session(url: str) -> tuple[requests.Session, str]:
    """A browser-like session holding the CSRF cookie and the form's token."""
    session = requests.Session()
    page = session.get(f"{url}/contact/", timeout=10)
    assert page.status_code == 200
    return session, session.cookies["csrftoken"]


def post(session: requests.Session, token: str, url: str, **changes: str) -> int:
    data = {**FORM, **changes, "csrfmiddlewaretoken": token}
    response = session.post(f"{url}/contact/", data=data, timeout=30, allow_redirects=False)
    if response.status_code == 302:
        assert response.headers["Location"] == "/contact/thanks/"
    else:
        assert "several messages in a short time" in response.text
    return response.status_code


def test_one_address_alternating_between_two_processes_gets_the_limit_and_no_more(
    two_web_processes,
):
    first, second = two_web_processes
    session, token = form_session(first)
    statuses = [post(session, token, (first, second)[i % 2]) for i in range(LIMIT + 2)]
    assert statuses == [302] * LIMIT + [429, 429]
    assert ContactMessage.objects.count() == LIMIT
    assert len(queued_messages("contact_send")) == LIMIT


def test_a_simultaneous_burst_at_both_processes_saves_exactly_the_limit(two_web_processes):
    burst = 12
    sessions = [form_session(two_web_processes[i % 2]) for i in range(burst)]
    start = threading.Barrier(burst)
    statuses: list[int] = []
    lock = threading.Lock()

    def fire(index: int) -> None:
        session, token = sessions[index]
        start.wait()
        # Different addresses, one client IP: the per-IP count is what must hold.
        status = post(session, token, two_web_processes[index % 2], email=f"b{index}@example.net")
        with lock:
            statuses.append(status)

    threads = [threading.Thread(target=fire, args=(i,)) for i in range(burst)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(statuses) == [302] * LIMIT + [429] * (burst - LIMIT)
    assert ContactMessage.objects.count() == LIMIT
    assert len(queued_messages("contact_send")) == LIMIT
