"""A real SMTP server on loopback (aiosmtpd in a thread) and workers pointed at it."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from tests.conftest import WorkerProcess

RECIPIENTS = ["ops@example.org", "owner@example.org"]
FROM_EMAIL = "lagless <noreply@lagless.example>"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage

    @property
    def text(self) -> str:
        """The body as the admin reads it, with the wire's CRLF line ends undone."""
        return str(self.message.get_content()).replace("\r\n", "\n")


class SmtpServer:
    """An SMTP server that keeps every message it accepts; stop and start it at will."""

    def __init__(self) -> None:
        self.port = free_port()
        self.received: list[Received] = []
        # An SMTP reply such as "451 4.3.0 Try later" to refuse DATA with.
        self.refuse_with: str | None = None
        self._lock = threading.Lock()
        self._controller: Controller | None = None

    def start(self) -> None:
        assert self._controller is None
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.refuse_with:
            return self.refuse_with
        message = message_from_bytes(envelope.original_content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        with self._lock:
            self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), message))
        return "250 2.0.0 Accepted"

    def count(self) -> int:
        with self._lock:
            return len(self.received)


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def smtp_settings(settings: Any, smtp_server: SmtpServer) -> SmtpServer:
    """Send from this process through the loopback server, as a worker would."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = smtp_server.port
    settings.EMAIL_TIMEOUT = 5
    settings.CONTACT_RECIPIENTS = RECIPIENTS
    settings.DEFAULT_FROM_EMAIL = FROM_EMAIL
    return smtp_server


@pytest.fixture
def smtp_worker(
    start_worker: Callable[..., WorkerProcess], smtp_server: SmtpServer
) -> Callable[..., WorkerProcess]:
    """Start a real worker that sends through the loopback server."""

    def start(**env: str) -> WorkerProcess:
        return start_worker(
            EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
            EMAIL_HOST="127.0.0.1",
            EMAIL_PORT=str(smtp_server.port),
            EMAIL_TIMEOUT="5",
            CONTACT_RECIPIENTS=",".join(RECIPIENTS),
            DEFAULT_FROM_EMAIL=FROM_EMAIL,
            **env,
        )

    return start
