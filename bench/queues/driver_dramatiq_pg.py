"""dramatiq-pg 0.12 (dramatiq 1.x, psycopg2): runs in bench/.venvs/dramatiq-pg.

Its worker is ``dramatiq bench.queues.driver_dramatiq_pg``. Its broker has no batch
enqueue; "preload" writes the rows its enqueue would write
with one multi-row INSERT, only to fill the queue before a drain.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path

import dramatiq  # type: ignore[import-not-found,unused-ignore]
import dramatiq_pg  # type: ignore[import-not-found,unused-ignore]

from bench.queues import protocol

broker = dramatiq_pg.PostgresBroker(url=protocol.dsn(), results=False)
dramatiq.set_broker(broker)


@dramatiq.actor(queue_name="bench", max_retries=0)  # type: ignore[untyped-decorator,unused-ignore]
def bench_job(seq: int, sleep_ms: int) -> None:
    protocol.job_body(seq, sleep_ms)


def _preload(jobs: Sequence[protocol.Job]) -> None:
    import psycopg2.extras  # type: ignore[import-not-found,import-untyped,unused-ignore]
    from dramatiq_pg.utils import tidy4json  # type: ignore[import-not-found,unused-ignore]

    rows = []
    for seq, sleep_ms in jobs:
        message = bench_job.message(seq, sleep_ms)
        rows.append(("bench", message.message_id, psycopg2.extras.Json(tidy4json(message))))
    conn = broker.pool.getconn()
    try:
        with conn, conn.cursor() as cursor:
            psycopg2.extras.execute_values(
                cursor,
                "INSERT INTO dramatiq.queue (queue_name, message_id, state, message) VALUES %s",
                rows,
                template="(%s, %s, 'queued', %s)",
            )
    finally:
        broker.pool.putconn(conn)


def main() -> None:
    args = protocol.parser().parse_args()
    if args.command == "setup":
        schema = Path(dramatiq_pg.__file__).with_name("schema.sql")
        subprocess.run(["psql", "-q", protocol.dsn(), "-f", str(schema)], check=True)
    elif args.command == "reset":
        conn = broker.pool.getconn()
        with conn, conn.cursor() as cursor:
            cursor.execute("TRUNCATE dramatiq.queue")
        broker.pool.putconn(conn)
    elif args.command == "enqueue":
        many = _preload if args.mode == "preload" else None

        def one(seq: int, sleep_ms: int) -> None:
            bench_job.send(seq, sleep_ms)

        protocol.enqueue(args, one, many)


if __name__ == "__main__":
    main()
