"""One Postgres LISTEN connection per web process, fanning photo-job events out to streams.

Workers NOTIFY on every photo-job state change (backend.profiles.events). Each
open stream subscribes here with its user id and gets an asyncio.Queue; a single
task per process holds one autocommit connection doing LISTEN and routes each
notification to that user's queues only. So the number of database connections
does not grow with the number of open pages.

The task starts with the first subscriber, reconnects with exponential backoff
when the database drops (then tells every subscriber to read its state again,
as notifications sent meanwhile are lost), and closes its connection once
nobody has subscribed for LIVE_LISTENER_IDLE_SECONDS, so an idle process holds
no connection while a page reload does not churn one.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import os
import time
from dataclasses import dataclass
from typing import Any

import psycopg
from django.conf import settings
from django.db import connections
from psycopg import sql

from backend.profiles.events import PHOTO_JOB_CHANNEL

logger = logging.getLogger(__name__)

APPLICATION_NAME = "lagless-live-listener"
IDLE_SECONDS = 60.0
# How often a quiet connection is checked with SELECT 1, so a connection that
# died without a word (a half-open TCP socket) is noticed.
HEALTH_CHECK_SECONDS = 30.0
HEALTH_CHECK_TIMEOUT = 10.0
BACKOFF_FIRST_SECONDS = 0.5
BACKOFF_MAX_SECONDS = 30.0
# How long a new subscriber waits for LISTEN to be active before reading state.
READY_TIMEOUT = 5.0
# Streams coalesce events (each one only triggers a fresh read), so a full
# queue can drop new events: the events still queued trigger a read that
# happens after the dropped one was committed.
QUEUE_SIZE = 32
# Django's own connection parameters that libpq does not know.
_NOT_LIBPQ = ("cursor_factory", "context", "prepare_threshold")


@dataclass(frozen=True)
class PhotoEvent:
    user_id: int
    job_id: str
    state: str


# Events may have been missed (the listener reconnected): read the state again.
RESYNC = PhotoEvent(user_id=0, job_id="", state="resync")


class Subscription:
    """One open stream's inbox for its user's photo-job events."""

    def __init__(self, user_id: int) -> None:
        self.user_id = user_id
        self.queue: asyncio.Queue[PhotoEvent] = asyncio.Queue(maxsize=QUEUE_SIZE)

    def offer(self, event: PhotoEvent) -> None:
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            pass  # see QUEUE_SIZE

    async def wait(self, timeout: float) -> bool:
        """Wait for events and take them all; False when `timeout` passed without any."""
        try:
            await asyncio.wait_for(self.queue.get(), timeout)
        except TimeoutError:
            return False
        while not self.queue.empty():
            self.queue.get_nowait()
        return True


class PhotoJobListener:
    """The per-process LISTEN connection and the subscribers it feeds."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._subscribers: dict[int, set[Subscription]] = {}
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self._idle_since = time.monotonic()
        self._connections_opened = 0
        self._notifications = 0

    async def subscribe(self, user_id: int) -> Subscription:
        """Register a stream, and return once LISTEN is active (or READY_TIMEOUT passed)."""
        subscription = Subscription(user_id)
        self._subscribers.setdefault(user_id, set()).add(subscription)
        if self._task is None or self._task.done():
            # A fresh context: the task outlives the request that happens to start it.
            self._task = self.loop.create_task(
                self._run(), name="live-listener", context=contextvars.Context()
            )
        try:
            await asyncio.wait_for(self._ready.wait(), READY_TIMEOUT)
        except TimeoutError:
            logger.warning("live listener not ready after %ss; reading state anyway", READY_TIMEOUT)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        subscriptions = self._subscribers.get(subscription.user_id, set())
        subscriptions.discard(subscription)
        if not subscriptions:
            self._subscribers.pop(subscription.user_id, None)
        if not self._subscribers:
            self._idle_since = time.monotonic()

    def stats(self) -> dict[str, Any]:
        return {
            "pid": os.getpid(),
            "subscribers": sum(len(s) for s in self._subscribers.values()),
            "users": len(self._subscribers),
            "listening": self._ready.is_set(),
            "connections_opened": self._connections_opened,
            "notifications": self._notifications,
        }

    async def _run(self) -> None:
        delay = BACKOFF_FIRST_SECONDS
        missed = False
        while True:
            started = time.monotonic()
            try:
                conn = await self._connect()
            except (psycopg.Error, OSError) as exc:
                logger.warning("live listener cannot connect (%s)", exc)
                missed = True
            else:
                missed = await self._serve(conn, resync=missed)
                if time.monotonic() - started > BACKOFF_MAX_SECONDS:
                    delay = BACKOFF_FIRST_SECONDS
            if missed and self._subscribers:
                await asyncio.sleep(delay)
                delay = min(delay * 2, BACKOFF_MAX_SECONDS)
            # No await between this check and the task's end, so a subscriber
            # arriving later finds no task and starts a new one.
            if not self._subscribers:
                self._task = None
                logger.info("live listener stopped: no subscribers")
                return

    async def _connect(self) -> psycopg.AsyncConnection[Any]:
        params = connections["default"].get_connection_params()
        for key in _NOT_LIBPQ:
            params.pop(key, None)
        params["application_name"] = APPLICATION_NAME
        conn = await psycopg.AsyncConnection.connect(autocommit=True, **params)
        try:
            await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(PHOTO_JOB_CHANNEL)))
        except BaseException:
            await conn.close()
            raise
        self._connections_opened += 1
        logger.info("live listener listening on %s", PHOTO_JOB_CHANNEL)
        return conn

    async def _serve(self, conn: psycopg.AsyncConnection[Any], *, resync: bool) -> bool:
        """Fan notifications out until idle or the connection fails; True if it failed."""
        self._ready.set()
        if resync:
            for subscriptions in self._subscribers.values():
                for subscription in subscriptions:
                    subscription.offer(RESYNC)
        try:
            await self._fan_out(conn)
        except (psycopg.Error, OSError, TimeoutError) as exc:
            logger.warning("live listener lost its connection (%s); reconnecting", exc)
            return True
        except Exception:
            logger.exception("live listener failed; reconnecting")
            return True
        finally:
            self._ready.clear()
            await conn.close()
        return False

    async def _fan_out(self, conn: psycopg.AsyncConnection[Any]) -> None:
        idle_limit = float(getattr(settings, "LIVE_LISTENER_IDLE_SECONDS", IDLE_SECONDS))
        wake = max(0.5, min(HEALTH_CHECK_SECONDS, idle_limit))
        while True:
            async for notify in conn.notifies(timeout=wake):
                self._notifications += 1
                self._dispatch(notify.payload)
            if not self._subscribers and time.monotonic() - self._idle_since >= idle_limit:
                return
            await asyncio.wait_for(conn.execute("SELECT 1"), HEALTH_CHECK_TIMEOUT)

    def _dispatch(self, payload: str) -> None:
        try:
            data = json.loads(payload)
            event = PhotoEvent(int(data["user_id"]), str(data["job_id"]), str(data["state"]))
        except (ValueError, KeyError, TypeError):
            logger.warning("live listener ignored a malformed notification: %r", payload[:200])
            return
        for subscription in self._subscribers.get(event.user_id, ()):
            subscription.offer(event)


_listener: PhotoJobListener | None = None


def photo_job_listener() -> PhotoJobListener:
    """This process's listener, for the running event loop."""
    global _listener
    loop = asyncio.get_running_loop()
    if _listener is None or _listener.loop is not loop:
        _listener = PhotoJobListener(loop)
    return _listener
