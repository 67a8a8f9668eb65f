"""This project's queue: dramatiq-postgres through TransactionalPostgresBroker (runs in .venv).

Enqueue goes through the project's broker inside ``transaction.atomic()``, as the
photo service does: "single" is one job per transaction, "batch" many per transaction;
"preload" writes the broker's rows directly, only to fill the queue before a drain.
Its worker is the command ``manage.py rundramatiq`` execs, with the bench actor module.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Any

from bench.common import ROOT
from bench.queues import protocol


def worker_command(slots: int) -> list[str]:
    """What ``manage.py rundramatiq --processes 1 --threads N`` runs, plus the bench actor."""
    dramatiq_bin = str(ROOT / ".venv" / "bin" / "dramatiq")
    return [
        dramatiq_bin, "--path", str(ROOT), "--processes", "1", "--threads", str(slots),
        "--worker-shutdown-timeout", "600000", "django_dramatiq.setup",
        "bench.queues.project_tasks",
    ]  # fmt: skip


def main() -> None:
    args = protocol.parser().parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection, transaction

    from bench.queues.project_tasks import bench_job

    if args.command == "setup":
        call_command("migrate", verbosity=0)
    elif args.command == "reset":
        with connection.cursor() as cursor:
            cursor.execute("TRUNCATE dramatiq.queue, dramatiq.worker")
    elif args.command == "enqueue":

        def one(seq: int, sleep_ms: int) -> None:
            with transaction.atomic():
                bench_job.send(seq, sleep_ms)

        def many(jobs: Sequence[protocol.Job]) -> None:
            with transaction.atomic():
                for seq, sleep_ms in jobs:
                    bench_job.send(seq, sleep_ms)

        def preload(jobs: Sequence[protocol.Job]) -> None:
            # The rows the broker's enqueue writes, in one statement: filling only.
            from dramatiq_postgres.utils import tidy4json
            from psycopg.types.json import Jsonb

            messages = [bench_job.message(seq, sleep_ms) for seq, sleep_ms in jobs]
            rows: list[Any] = [(m.queue_name, m.message_id, Jsonb(tidy4json(m))) for m in messages]
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.executemany(
                    "INSERT INTO dramatiq.queue (queue_name, message_id, state, message)"
                    " VALUES (%s, %s, 'queued', %s)",
                    rows,
                )

        protocol.enqueue(args, one, preload if args.mode == "preload" else many)
    else:
        sys.exit(f"unknown command {args.command}")


if __name__ == "__main__":
    main()
