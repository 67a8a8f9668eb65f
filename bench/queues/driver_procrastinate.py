"""procrastinate 3.x (psycopg 3, asyncio): runs in bench/.venvs/procrastinate.

The job is an async task, procrastinate's own concurrency model (its sync tasks go
through a small thread pool); the worker runs with ``concurrency`` equal to the slots.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import procrastinate  # type: ignore[import-not-found,unused-ignore]

from bench.queues import protocol

app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=protocol.dsn()))


@app.task(name="bench_job", queue="bench")  # type: ignore[untyped-decorator,unused-ignore]
async def bench_job(seq: int, sleep_ms: int) -> None:
    await protocol.job_body_async(seq, sleep_ms)


async def _run(args) -> None:
    async with app.open_async():
        if args.command == "setup":
            await app.schema_manager.apply_schema_async()
        elif args.command == "reset":
            await app.connector.execute_query_async(
                "TRUNCATE procrastinate_jobs, procrastinate_workers CASCADE"
            )
        elif args.command == "enqueue":

            async def one(seq: int, sleep_ms: int) -> None:
                await bench_job.defer_async(seq=seq, sleep_ms=sleep_ms)

            async def many(jobs: Sequence[protocol.Job]) -> None:
                await bench_job.batch_defer_async(*[{"seq": s, "sleep_ms": ms} for s, ms in jobs])

            await protocol.enqueue_async(args, one, many)
        elif args.command == "worker":
            await app.run_worker_async(queues=["bench"], concurrency=args.slots)


def main() -> None:
    asyncio.run(_run(protocol.parser().parse_args()))


if __name__ == "__main__":
    main()
