"""The project's Dramatiq broker: dramatiq-postgres with transactional enqueue.

Inside ``transaction.atomic()`` a message is written on Django's own connection,
so it exists if and only if the transaction that recorded the work commits; the
NOTIFY that wakes workers is delivered at that commit. Outside an atomic block
(retries and delayed messages in a worker) it commits on its own, still on
Django's connection. The broker's pool is left to the consumers.

Without a results backend, an acknowledgement is a plain DELETE: dramatiq-postgres
also sends a NOTIFY on ``dramatiq.<queue>.ack`` with the whole message, which no
part of it listens to, and NOTIFY takes a database-wide lock at commit that
serialises every worker's acknowledgements (about a quarter of the drain rate,
measured in docs/benchmarks.md).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from django.db import InterfaceError, OperationalError, connections, transaction
from dramatiq.common import current_millis, dq_name
from dramatiq.message import Message
from dramatiq_postgres import PostgresBroker
from dramatiq_postgres.broker import QUERIES, PostgresConsumer
from dramatiq_postgres.utils import raise_connection_error, tidy4json
from dramatiq_postgres.utils import transaction as pool_transaction
from psycopg.types.json import Jsonb

logger = logging.getLogger(__name__)

# How long an enqueue outside a transaction keeps trying through a database outage.
ENQUEUE_RETRY_SECONDS = 120.0


class TransactionalPostgresBroker(PostgresBroker):  # type: ignore[misc]
    """A PostgresBroker that enqueues on Django's connection, in the caller's transaction."""

    def __init__(self, *, database_alias: str = "default", **options: Any) -> None:
        if options.get("schema") not in (None, "dramatiq") or options.get("prefix"):
            # The migration, the admin's models and ACK_QUIET name "dramatiq"."queue".
            raise ValueError("this project keeps its queue in dramatiq.queue: no schema or prefix")
        super().__init__(**options)
        self.database_alias = database_alias

    def consume(self, queue_name: str, prefetch: int = 1, timeout: int = 30000) -> PostgresConsumer:
        if self.backend is not None:
            return super().consume(queue_name, prefetch=prefetch, timeout=timeout)
        return QuietAckConsumer(
            broker=self, queue_name=queue_name, prefetch=prefetch, timeout=timeout
        )

    def enqueue(self, message: Message[Any], *, delay: int | None = None) -> Message[Any]:
        connection = connections[self.database_alias]
        if connection.in_atomic_block:
            # Errors propagate and roll the caller's transaction back with it.
            return self._enqueue_on(connection, message, delay)
        return self._enqueue_autocommit(message, delay)

    def _enqueue_autocommit(self, message: Message[Any], delay: int | None) -> Message[Any]:
        # Retries and delayed messages in workers. The message being retried is
        # acknowledged right after this returns, so giving up here would lose
        # it: ride out a database restart instead (the thread has nothing else
        # it could do meanwhile).
        deadline = time.monotonic() + ENQUEUE_RETRY_SECONDS
        pause = 0.2
        while True:
            connection = connections[self.database_alias]
            try:
                with transaction.atomic(using=self.database_alias):
                    return self._enqueue_on(connection, message, delay)
            except (OperationalError, InterfaceError):
                if time.monotonic() + pause > deadline:
                    logger.error("enqueue of %s failed for good", message.message_id)
                    raise
                logger.warning("enqueue of %s failed, retrying in %.1fs", message.message_id, pause)
                connection.close()
                time.sleep(pause)
                pause = min(pause * 2, 5.0)

    def _enqueue_on(
        self, connection: Any, message: Message[Any], delay: int | None
    ) -> Message[Any]:
        # The parent's statement and hooks, on Django's connection instead of the pool.
        self.emit_before("enqueue", message, delay)
        if delay:
            message = message.copy(queue_name=dq_name(message.queue_name))
            message.options["eta"] = current_millis() + delay
        query = QUERIES.ENQUEUE if self.notify else QUERIES.ENQUEUE_QUIET
        params = (message.queue_name, message.message_id, Jsonb(tidy4json(message)), delay or 0)
        with connection.cursor() as cursor:
            cursor.execute(query, params)
        self.emit_after("enqueue", message, delay)
        return message


# The DELETE of dramatiq-postgres's ACK statement, without its pg_notify.
ACK_QUIET = """
DELETE FROM "dramatiq"."queue"
WHERE message_id = %s AND queue_name = %s AND "state" = 'consumed'
"""


class QuietAckConsumer(PostgresConsumer):  # type: ignore[misc]
    @raise_connection_error  # type: ignore[untyped-decorator]
    def ack(self, message: Message[Any]) -> None:
        # Runs in the worker thread. Only a 'consumed' row is deleted: dramatiq
        # acknowledges a message the Retries middleware has already re-queued.
        with pool_transaction(self.pool) as cursor:
            cursor.execute(ACK_QUIET, (message.message_id, message.queue_name))
        self.in_processing.discard(message.message_id)
        self.wakeup.set()
