"""pgqueuer 1.x (asyncpg, asyncio): runs in bench/.venvs/pgqueuer.

The worker caps itself at the slots with ``max_concurrent_tasks`` and claims in
batches of half that, the smallest batch its cap allows.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Sequence

import asyncpg  # type: ignore[import-not-found,unused-ignore]
from pgqueuer import PgQueuer, Queries  # type: ignore[import-not-found,unused-ignore]
from pgqueuer.db import AsyncpgDriver  # type: ignore[import-not-found,unused-ignore]

from bench.queues import protocol

PAYLOAD = struct.Struct("!qi")


async def _worker(driver, slots: int) -> None:
    pgq = PgQueuer(driver)

    @pgq.entrypoint("bench_job")  # type: ignore[untyped-decorator,unused-ignore]
    async def bench_job(job) -> None:
        seq, sleep_ms = PAYLOAD.unpack(job.payload)
        await protocol.job_body_async(seq, sleep_ms)

    await pgq.run(batch_size=max(1, slots // 2), max_concurrent_tasks=slots)


async def _run(args) -> None:
    connection = await asyncpg.connect(protocol.dsn())
    driver = AsyncpgDriver(connection)
    queries = Queries(driver)
    if args.command == "setup":
        await queries.install()
    elif args.command == "reset":
        await connection.execute("TRUNCATE pgqueuer, pgqueuer_log, pgqueuer_statistics")
    elif args.command == "enqueue":

        async def one(seq: int, sleep_ms: int) -> None:
            await queries.enqueue("bench_job", PAYLOAD.pack(seq, sleep_ms))

        async def many(jobs: Sequence[protocol.Job]) -> None:
            payloads = [PAYLOAD.pack(seq, ms) for seq, ms in jobs]
            await queries.enqueue(["bench_job"] * len(jobs), payloads, [0] * len(jobs))

        await protocol.enqueue_async(args, one, many)
    elif args.command == "worker":
        await _worker(driver, args.slots)


def main() -> None:
    asyncio.run(_run(protocol.parser().parse_args()))


if __name__ == "__main__":
    main()
