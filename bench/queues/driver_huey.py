"""huey on SQLite, the seed's queue: runs in bench/.venvs/huey.

BENCH_HUEY_FSYNC=1 makes SQLite sync every commit (``synchronous=FULL``); 0 turns
syncing off. huey has no batch enqueue; "preload" inserts the serialized tasks in
one SQLite transaction, only to fill the queue before a drain. Its worker is
``huey_consumer bench.queues.driver_huey.huey -k thread``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from huey import SqliteHuey  # type: ignore[import-not-found,unused-ignore]

from bench.queues import protocol

huey = SqliteHuey(
    name="bench",
    filename=os.environ.get("BENCH_HUEY_DB", "/tmp/bench-huey.db"),  # noqa: S108
    fsync=os.environ.get("BENCH_HUEY_FSYNC", "0") == "1",
    results=False,
)


@huey.task()  # type: ignore[untyped-decorator,unused-ignore]
def bench_job(seq: int, sleep_ms: int) -> None:
    protocol.job_body(seq, sleep_ms)


def _preload(jobs: Sequence[protocol.Job]) -> None:
    rows = [(huey.name, huey.serialize_task(bench_job.s(seq, ms))) for seq, ms in jobs]
    with huey.storage.db(commit=True) as cursor:
        cursor.executemany("INSERT INTO task (queue, data, priority) VALUES (?, ?, 0)", rows)


def main() -> None:
    args = protocol.parser().parse_args()
    if args.command == "setup":
        huey.storage.conn  # noqa: B018 - opening the database creates its tables
    elif args.command == "reset":
        huey.flush()
    elif args.command == "enqueue":
        many = _preload if args.mode == "preload" else None

        def one(seq: int, sleep_ms: int) -> None:
            bench_job(seq, sleep_ms)

        protocol.enqueue(args, one, many)


if __name__ == "__main__":
    # huey names tasks by module: enqueue under the name the consumer imports.
    from bench.queues.driver_huey import main as canonical_main

    canonical_main()
