"""The photo-progress event stream: server-sent events fed by the process's listener.

Notifications carry only ids, and each one makes the stream read the state
again, so a stream only ever shows what the database says now. Every stream
starts with that state, which is also what a reconnecting browser gets: it
cannot miss the final state whatever it missed while away.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Any

from asgiref.sync import sync_to_async
from django.contrib.auth.models import AbstractBaseUser
from django.db import DatabaseError, connection

from backend.live.listener import PhotoJobListener
from backend.profiles import services

logger = logging.getLogger(__name__)

# How long a browser waits before reconnecting after the stream ends.
RETRY_MILLISECONDS = 3000
PING = ": ping\n\n"


def photo_state_read(user: AbstractBaseUser) -> dict[str, Any]:
    """The user's latest photo job and current photo URL, as the polling endpoint has them."""
    try:
        job = services.photo_job_latest(user=user)
        urls = services.photo_urls(profile=services.profile_get(user=user))
    finally:
        # A stream stays open for as long as its page: keeping this thread's
        # connection would make connections grow with open pages.
        if not connection.in_atomic_block:
            connection.close()
    return {
        "job": None if job is None else {"id": str(job.id), "state": job.state, "error": job.error},
        "photo_url": urls[0] if urls else None,
    }


def sse_frame(state: dict[str, Any]) -> str:
    job = state["job"]
    event_id = f"{job['id']}:{job['state']}" if job else "none"
    return f"id: {event_id}\nevent: photo\ndata: {json.dumps(state)}\n\n"


async def photo_stream(
    user: AbstractBaseUser, *, listener: PhotoJobListener, heartbeat: float
) -> AsyncIterator[str]:
    """Send the current state, then again after every event for this user, until closed.

    The subscription is made before the first read, so a change committed
    between the two still triggers a read. The stream ends when the database
    cannot be read; the browser reconnects after RETRY_MILLISECONDS.
    """
    subscription = await listener.subscribe(user.pk)
    try:
        yield f"retry: {RETRY_MILLISECONDS}\n\n"
        sent = ""
        while True:
            try:
                frame = sse_frame(await sync_to_async(photo_state_read)(user))
            except DatabaseError as exc:
                logger.warning("photo stream for user %s ends: %s", user.pk, exc)
                return
            if frame != sent:
                yield frame
                sent = frame
            while not await subscription.wait(heartbeat):
                yield PING
    finally:
        # Also reached when the client goes away: Django cancels the response
        # task (CancelledError here) and closes this generator.
        listener.unsubscribe(subscription)
