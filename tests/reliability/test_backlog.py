"""A large backlog drains with bounded locks and memory while the web stays responsive."""

from __future__ import annotations

import os
import statistics
import threading
import time

import pytest
import requests

from tests.reliability.conftest import query
from tests.reliability.harness import record, wait_until

pytestmark = pytest.mark.reliability

# 20,000 in the test command; `dev.py reliability` drains the full 100,000.
BACKLOG = int(os.environ.get("RELIABILITY_BACKLOG", "20000"))
THREADS = 8


def test_backlog_drains_with_bounded_locks_and_memory(pg, system):
    # photo_files_delete with no names is the cheapest real job there is: the
    # scenario measures the queue, not the work.
    with pg.connect() as conn:
        conn.execute(
            """
            INSERT INTO dramatiq.queue (message_id, queue_name, state, message)
            SELECT id, 'photos', 'queued', jsonb_build_object(
                'queue_name', 'photos', 'actor_name', 'photo_files_delete',
                'args', jsonb_build_array('local', '[]'::jsonb), 'kwargs', '{}'::jsonb,
                'options', '{}'::jsonb, 'message_id', id::text,
                'message_timestamp', (extract(epoch FROM now()) * 1000)::bigint)
            FROM (SELECT gen_random_uuid() AS id FROM generate_series(1, %s)) AS ids
            """,
            (BACKLOG,),
        )
    system.start_web()
    latencies: list[float] = []
    peaks = {"locks": 0, "rss": 0}
    stop = threading.Event()

    def watch(worker) -> None:
        while not stop.is_set():
            [(locks,)] = query(pg, "SELECT count(*) FROM pg_locks")
            peaks["locks"] = max(peaks["locks"], locks)
            peaks["rss"] = max(peaks["rss"], worker.rss_bytes())
            started = time.monotonic()
            requests.get(f"{system.web_url}/healthz", timeout=10)
            latencies.append(time.monotonic() - started)
            time.sleep(0.25)

    started = time.monotonic()
    worker = system.start_worker("-p", "1", "-t", str(THREADS))
    watcher = threading.Thread(target=watch, args=(worker,))
    watcher.start()
    try:
        wait_until(
            lambda: query(pg, "SELECT count(*) FROM dramatiq.queue")[0][0] == 0,
            timeout=900,
            interval=1.0,
            what="the backlog to drain",
        )
    finally:
        stop.set()
        watcher.join(30)
    drained = time.monotonic() - started
    latencies.sort()
    p99 = latencies[int(len(latencies) * 0.99) - 1] if latencies else 0.0
    record(
        f"backlog of {BACKLOG:,} queued jobs",
        "drains; locks and worker memory bounded by the concurrency; web stays responsive",
        {
            "jobs": BACKLOG,
            "drain_seconds": round(drained, 1),
            "jobs_per_second": round(BACKLOG / drained),
            "peak_pg_locks": peaks["locks"],
            "peak_worker_rss_mb": round(peaks["rss"] / 2**20),
            "healthz_p50_ms": round(statistics.median(latencies) * 1000, 1) if latencies else None,
            "healthz_p99_ms": round(p99 * 1000, 1),
            "worker_threads": THREADS,
        },
        holds=peaks["locks"] < 200,
    )
    # Each claim locks a batch (at most the prefetch), never the whole backlog.
    assert peaks["locks"] < 200
