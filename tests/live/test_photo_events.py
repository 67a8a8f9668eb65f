"""The photo-progress stream over a real uvicorn, fed by real NOTIFYs from Postgres."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection, transaction

from backend.profiles import services
from backend.profiles.models import PhotoJob
from tests import images
from tests.conftest import wait_for
from tests.live.server import (
    WEB_APPLICATION_NAME,
    EventStream,
    connection_count,
    listener_connections,
    listener_pids,
)

EVENTS = "/live/photo-events/"
STATS = "/live/stats/"


def job_create(user, name="a.jpg", data=None):
    """Stage a photo job in the test process; its NOTIFY is delivered at commit."""
    with transaction.atomic():
        upload = SimpleUploadedFile(name, data or images.jpeg(), content_type="image/jpeg")
        return services.photo_job_create(user=user, upload=upload)


def stats(session, web):
    response = session.get(f"{web.url}{STATS}", timeout=10)
    response.raise_for_status()
    return response.json()


def open_stream(session, web, headers=None):
    return EventStream(session, f"{web.url}{EVENTS}", headers)


def test_anonymous_visitors_get_403_and_no_stream(web, staff, sign_in):
    response = requests.get(f"{web.url}{EVENTS}", timeout=10)
    assert response.status_code == 403
    assert response.headers["Content-Type"].startswith("text/html")
    assert requests.get(f"{web.url}{STATS}", timeout=10).status_code == 403
    assert stats(sign_in(staff), web)["subscribers"] == 0


def test_stream_starts_with_the_current_state_then_delivers_each_change(
    web, alice, sign_in, clean_queue
):
    stream = open_stream(sign_in(alice), web)
    assert stream.response.status_code == 200
    headers = stream.response.headers
    assert headers["Content-Type"].startswith("text/event-stream")
    assert headers["Cache-Control"] == "no-cache"
    assert headers["X-Accel-Buffering"] == "no"
    first = stream.next_event()
    assert (first["id"], first["event"]) == ("none", "photo")
    assert first["data"] == {"job": None, "photo_url": None}
    assert stream.retry == 3000

    job = job_create(alice)
    queued = stream.next_event()
    assert queued["id"] == f"{job.id}:queued"
    assert queued["data"]["job"] == {"id": str(job.id), "state": "queued", "error": ""}

    services.photo_job_fail(job_id=str(job.id), reason="Too blurry <b>really</b>")
    failed = stream.next_event()
    assert failed["id"] == f"{job.id}:failed"
    assert failed["data"]["job"]["error"] == "Too blurry <b>really</b>"
    # Nothing else happens, so only heartbeats come (every 0.5 s in these tests).
    stream.next_ping()
    stream.next_ping()
    stream.close()


def test_bobs_job_events_never_reach_alices_stream(web, alice, bob, sign_in, clean_queue):
    alice_stream = open_stream(sign_in(alice), web)
    bob_stream = open_stream(sign_in(bob), web)
    assert alice_stream.next_event()["data"]["job"] is None
    assert bob_stream.next_event()["data"]["job"] is None

    bobs = job_create(bob)
    assert bob_stream.next_event()["data"]["job"]["state"] == "queued"
    services.photo_job_fail(job_id=str(bobs.id), reason="Bob's secret reason")
    alices = job_create(alice)

    # Alice's change was committed after Bob's, so had Bob's reached her
    # stream it would have come first.
    event = alice_stream.next_event()
    assert event["data"]["job"]["id"] == str(alices.id)
    assert str(bobs.id) not in str(event)
    assert bob_stream.next_event()["data"]["job"]["error"] == "Bob's secret reason"
    alice_stream.close()
    bob_stream.close()


def test_fifty_open_streams_use_one_listener_connection(
    web, alice, bob, staff, sign_in, clean_queue
):
    admin = sign_in(staff)
    sessions = {alice.pk: sign_in(alice), bob.pk: sign_in(bob)}
    owners = [alice.pk, bob.pk] * 25
    assert listener_connections() == 0

    def connect(owner):
        stream = open_stream(sessions[owner], web)
        assert stream.next_event()["data"]["job"] is None
        return stream

    with ThreadPoolExecutor(max_workers=50) as pool:
        streams = list(pool.map(connect, owners))

    assert listener_connections() == 1
    assert stats(admin, web) | {"pid": 0} == {
        "pid": 0,
        "subscribers": 50,
        "users": 2,
        "listening": True,
        "connections_opened": 1,
        "notifications": 0,
    }
    # Streams keep no connection of their own between reads.
    wait_for(lambda: connection_count(WEB_APPLICATION_NAME) == 0, timeout=10)

    job = job_create(alice)
    for owner, stream in zip(owners, streams, strict=True):
        if owner == alice.pk:
            assert stream.next_event()["data"]["job"]["id"] == str(job.id)
    assert listener_connections() == 1
    wait_for(lambda: connection_count(WEB_APPLICATION_NAME) == 0, timeout=10)

    for stream in streams:
        stream.close()
    wait_for(lambda: stats(admin, web)["subscribers"] == 0, timeout=10, what="unsubscribes")
    # LIVE_LISTENER_IDLE_SECONDS is 1 s in these tests.
    wait_for(lambda: listener_connections() == 0, timeout=10, what="the idle listener to close")


def test_a_closed_stream_is_unsubscribed_and_a_new_one_restarts_the_listener(
    web, alice, staff, sign_in
):
    admin = sign_in(staff)
    session = sign_in(alice)
    streams = [open_stream(session, web) for _ in range(3)]
    for stream in streams:
        stream.next_event()
    assert stats(admin, web)["subscribers"] == 3

    streams.pop().close()
    wait_for(lambda: stats(admin, web)["subscribers"] == 2, timeout=10, what="one unsubscribe")
    for stream in streams:
        stream.close()
    wait_for(lambda: stats(admin, web)["subscribers"] == 0, timeout=10, what="all unsubscribed")
    wait_for(lambda: listener_connections() == 0, timeout=10, what="the idle listener to close")

    again = open_stream(session, web)
    assert again.next_event()["data"] == {"job": None, "photo_url": None}
    assert listener_connections() == 1
    assert stats(admin, web)["connections_opened"] == 2
    again.close()


@pytest.mark.worker
def test_a_worker_progress_is_streamed_until_the_new_photo_url(web, alice, sign_in, start_worker):
    session = sign_in(alice)
    stream = open_stream(session, web)
    assert stream.next_event()["data"]["job"] is None
    response = session.post(
        f"{web.url}/settings/photo/",
        data={"csrfmiddlewaretoken": session.cookies["csrftoken"]},
        files={"photo": ("me.jpg", images.jpeg(2000, 1500), "image/jpeg")},
        allow_redirects=False,
        timeout=10,
    )
    assert response.status_code == 302
    assert stream.next_event()["data"]["job"]["state"] == "queued"

    start_worker()
    states: list[dict[str, Any]] = []
    while not states or states[-1]["job"]["state"] not in PhotoJob.FINISHED:
        states.append(stream.next_event(timeout=60)["data"])
    # Each event is a fresh read, so a quick state can be skipped, never reordered.
    assert [s["job"]["state"] for s in states] in (["processing", "done"], ["done"])
    done = states[-1]
    assert done["job"]["error"] == ""
    assert done["photo_url"].startswith("/media/avatars/")
    photo = session.get(f"{web.url}{done['photo_url']}", timeout=10)
    assert (photo.status_code, photo.headers["Content-Type"]) == (200, "image/webp")
    stream.close()


@pytest.mark.worker
def test_a_stream_opened_after_the_job_finished_gets_the_final_state_at_once(
    web, alice, sign_in, start_worker
):
    job = job_create(alice)
    start_worker()
    wait_for(
        lambda: PhotoJob.objects.filter(pk=job.pk, state="done").exists(),
        timeout=60,
        what="the job to finish",
    )
    session = sign_in(alice)
    # A browser coming back after missing the end sends the last id it saw.
    for headers in ({}, {"Last-Event-ID": f"{job.id}:processing"}):
        stream = open_stream(session, web, headers)
        event = stream.next_event(timeout=5)
        assert event["id"] == f"{job.id}:done"
        assert event["data"]["job"]["state"] == "done"
        assert event["data"]["photo_url"].startswith(f"/media/avatars/{alice.pk}/{job.id}/")
        stream.close()


def test_the_listener_reconnects_when_its_connection_is_killed_and_streams_catch_up(
    web, alice, staff, sign_in, clean_queue
):
    stream = open_stream(sign_in(alice), web)
    assert stream.next_event()["data"]["job"] is None
    [old_pid] = listener_pids()

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [old_pid])
    # Most likely committed while no listener is connected, so its NOTIFY is
    # lost; the stream must still catch up once the listener is back.
    job = job_create(alice)

    event = stream.next_event(timeout=30)
    assert event["id"] == f"{job.id}:queued"
    new_pids = wait_for(listener_pids, timeout=10, what="a listener connection")
    assert len(new_pids) == 1
    assert new_pids != {old_pid}
    assert stats(sign_in(staff), web)["connections_opened"] == 2
    assert "live listener lost its connection" in web.log()
    stream.close()
