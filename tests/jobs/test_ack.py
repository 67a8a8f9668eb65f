"""Acknowledging a finished job deletes its row and sends nothing on the ack channel."""

from __future__ import annotations

import psycopg
import pytest

from actors.photos import photo_files_delete
from tests.conftest import database_url, queued_messages, wait_for


@pytest.mark.worker
def test_ack_deletes_the_message_without_a_notification(start_worker):
    with psycopg.connect(database_url(), autocommit=True) as listener:
        # dramatiq-postgres's own ack sends the whole message here; nothing listens.
        listener.execute('LISTEN "dramatiq.photos.ack"')
        listener.execute('LISTEN "dramatiq.photos.enqueue"')
        start_worker()
        photo_files_delete.send("local", ["gone-already.webp"])
        wait_for(lambda: queued_messages() == [], what="the job to be acknowledged")
        channels = [note.channel for note in listener.notifies(timeout=1.0)]
    assert "dramatiq.photos.enqueue" in channels  # the listener does hear this queue
    assert "dramatiq.photos.ack" not in channels


def test_the_broker_refuses_a_schema_or_prefix_its_tables_do_not_have():
    from backend.jobs.broker import TransactionalPostgresBroker

    for options in ({"schema": "jobs"}, {"prefix": "app_"}):
        with pytest.raises(ValueError, match=r"dramatiq\.queue"):
            TransactionalPostgresBroker(url="postgresql://unused", **options)
