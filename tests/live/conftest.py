"""Fixtures for tests that talk to a real uvicorn: the server and signed-in sessions."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
from django.contrib.auth.models import User

from tests.conftest import PASSWORD
from tests.live.server import WebServer, login, web_env


@pytest.fixture
def web(transactional_db: None, media_root: Path, tmp_path: Path) -> Iterator[WebServer]:
    """uvicorn on the test database; its log is printed when the test fails."""
    server = WebServer(tmp_path / "uvicorn.log", web_env(media_root))
    yield server
    server.stop()
    sys.stderr.write(f"\n--- uvicorn.log ---\n{server.log()[-6000:]}\n")


@pytest.fixture
def sign_in(web: WebServer) -> Callable[[User], requests.Session]:
    def sign_in(user: User) -> requests.Session:
        return login(web.url, user.get_username(), PASSWORD)

    return sign_in


@pytest.fixture
def staff(transactional_db: None) -> User:
    return User.objects.create_user("carol", "carol@example.com", PASSWORD, is_staff=True)
