"""One log line per job event: actor, message id, attempt, duration and outcome."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from dramatiq.middleware import Middleware

logger = logging.getLogger("lagless.jobs")


class JobLogMiddleware(Middleware):
    def __init__(self) -> None:
        # Keyed by message id, not stored in message.options, because a retry
        # re-enqueues the options and Retries runs before this middleware.
        self._lock = threading.Lock()
        self._started: dict[str, tuple[float, int]] = {}

    def before_process_message(self, broker: Any, message: Any) -> None:
        attempt = int(message.options.get("retries", 0)) + 1
        with self._lock:
            self._started[message.message_id] = (time.monotonic(), attempt)

    def after_process_message(
        self,
        broker: Any,
        message: Any,
        *,
        result: Any = None,
        exception: BaseException | None = None,
    ) -> None:
        with self._lock:
            started, attempt = self._started.pop(message.message_id, (time.monotonic(), 0))
        duration_ms = (time.monotonic() - started) * 1000
        outcome = "ok" if exception is None else f"error {type(exception).__name__}: {exception}"
        logger.info(
            "job actor=%s message_id=%s queue=%s attempt=%d duration_ms=%.0f outcome=%s",
            message.actor_name,
            message.message_id,
            message.queue_name,
            attempt,
            duration_ms,
            outcome,
        )

    def after_skip_message(self, broker: Any, message: Any) -> None:
        with self._lock:
            self._started.pop(message.message_id, None)
        logger.info(
            "job actor=%s message_id=%s queue=%s outcome=skipped",
            message.actor_name,
            message.message_id,
            message.queue_name,
        )
