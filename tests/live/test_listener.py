"""The listener in this process, on the real test database: routing by user, one connection."""

from __future__ import annotations

import asyncio

from asgiref.sync import sync_to_async
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection

from backend.live.listener import PhotoEvent, PhotoJobListener
from backend.profiles import services
from tests import images
from tests.live.server import listener_connections


def job_create(user):
    try:
        upload = SimpleUploadedFile("a.jpg", images.jpeg(), content_type="image/jpeg")
        return services.photo_job_create(user=user, upload=upload)
    finally:
        connection.close()  # this runs in asgiref's thread; leave no connection behind


def test_each_notification_reaches_only_its_users_subscribers(alice, bob, clean_queue):
    async def scenario():
        listener = PhotoJobListener(asyncio.get_running_loop())
        alices = [await listener.subscribe(alice.pk) for _ in range(3)]
        bobs = await listener.subscribe(bob.pk)
        connections = await sync_to_async(listener_connections)()

        bob_job = await sync_to_async(job_create)(bob)
        alice_job = await sync_to_async(job_create)(alice)
        bob_event = await asyncio.wait_for(bobs.queue.get(), 10)
        # Alice's NOTIFY was committed after Bob's, so a misrouted one would come first.
        alice_events = [await asyncio.wait_for(s.queue.get(), 10) for s in alices]
        stats = listener.stats()
        for subscription in [*alices, bobs]:
            listener.unsubscribe(subscription)
        return connections, bob_job, alice_job, bob_event, alice_events, stats

    connections, bob_job, alice_job, bob_event, alice_events, stats = asyncio.run(scenario())
    assert connections == 1
    assert bob_event == PhotoEvent(bob.pk, str(bob_job.id), "queued")
    assert alice_events == [PhotoEvent(alice.pk, str(alice_job.id), "queued")] * 3
    assert (stats["subscribers"], stats["users"], stats["notifications"]) == (4, 2, 2)
