"""A message exists if and only if the transaction that recorded the work commits."""

from __future__ import annotations

import psycopg
import pytest
from django.db import transaction

from actors.photos import photo_process
from tests.conftest import database_url, queued_messages


class Boom(Exception):
    pass


def test_rolled_back_transaction_enqueues_nothing(clean_queue):
    with pytest.raises(Boom), transaction.atomic():
        photo_process.send("00000000-0000-0000-0000-000000000001")
        assert len(queued_messages()) == 1  # visible inside the transaction...
        raise Boom
    assert queued_messages() == []  # ...and gone with it


def test_committed_transaction_always_enqueues(clean_queue):
    with transaction.atomic():
        message = photo_process.send("00000000-0000-0000-0000-000000000002")
    [stored] = queued_messages()
    assert stored["message_id"] == message.message_id
    assert stored["_state"] == "queued"


def test_message_is_invisible_to_workers_until_commit(clean_queue):
    with psycopg.connect(database_url(), autocommit=True) as other:
        with transaction.atomic():
            photo_process.send("00000000-0000-0000-0000-000000000003")
            count = other.execute("SELECT count(*) FROM dramatiq.queue").fetchone()
            assert count == (0,)
        assert other.execute("SELECT count(*) FROM dramatiq.queue").fetchone() == (1,)


def test_wakeup_notify_is_delivered_at_commit_only(clean_queue):
    with psycopg.connect(database_url(), autocommit=True) as listener:
        listener.execute('LISTEN "dramatiq.photos.enqueue"')
        with transaction.atomic():
            photo_process.send("00000000-0000-0000-0000-000000000004")
            assert list(listener.notifies(timeout=0.3)) == []
        assert len(list(listener.notifies(timeout=5, stop_after=1))) == 1


def test_nested_savepoint_rollback_drops_its_message_only(clean_queue):
    with transaction.atomic():
        photo_process.send("00000000-0000-0000-0000-000000000005")
        with pytest.raises(Boom), transaction.atomic():
            photo_process.send("00000000-0000-0000-0000-000000000006")
            raise Boom
    assert [m["args"] for m in queued_messages()] == [["00000000-0000-0000-0000-000000000005"]]


def test_enqueue_outside_a_transaction_uses_the_broker_pool(clean_queue):
    photo_process.send("00000000-0000-0000-0000-000000000007")
    assert len(queued_messages()) == 1
