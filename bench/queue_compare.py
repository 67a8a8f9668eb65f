"""Queue throughput and latency: this project's queue against its peers, on one Postgres.

Usage: .venv/bin/python bench/queue_compare.py [--quick] [--systems a,b] [--no-wait]

Each system runs no-op jobs (or 100 ms sleeps) with 16 job slots in one worker
process; jobs report their start and end over UDP, so every system is timed by the
same clock and harness. Peers run from their own virtualenvs (bench/.venvs/<name>,
created from bench/requirements-<name>.txt). Postgres is a private PostgreSQL 15
cluster with default settings, started for the run (see docs/benchmarks.md for why),
unless --database-url names an existing server.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common
from bench.queues import harness, report
from bench.queues.driver_project import worker_command as project_worker_command

SLOTS = 16
WARMUP_SEQ = 10**9


@dataclass(frozen=True)
class System:
    name: str
    label: str
    module: str
    requirements: str | None  # bench/requirements-<name>.txt; None: the project's .venv
    batch: bool  # the library can enqueue many jobs in one call
    fill: str  # how queues are filled before a drain: batch, preload or single
    worker: tuple[str, ...] = ()  # "{bin}" is the venv's bin directory, "{slots}" the slots
    env: tuple[tuple[str, str], ...] = ()
    sqlite: bool = False

    def worker_command(self, python: Path) -> list[str]:
        if not self.worker:
            return project_worker_command(SLOTS)
        return [a.format(bin=python.parent, slots=SLOTS) for a in self.worker]


HUEY_WORKER = ("{bin}/huey_consumer", "bench.queues.driver_huey.huey", "-w", "{slots}", "-k",
               "thread")  # fmt: skip
DRIVER_WORKER = ("{bin}/python", "-m", "MODULE", "worker", "--slots", "{slots}")
SYSTEMS = (
    System("project", "this project (dramatiq-postgres 1.4, transactional)",
           "bench.queues.driver_project", None, True, "preload"),
    System("dramatiq-pg", "dramatiq-pg 0.12", "bench.queues.driver_dramatiq_pg",
           "dramatiq-pg", False, "preload",
           ("{bin}/dramatiq", "--processes", "1", "--threads", "{slots}",
            "bench.queues.driver_dramatiq_pg")),
    System("procrastinate", "procrastinate", "bench.queues.driver_procrastinate",
           "procrastinate", True, "batch",
           tuple(a.replace("MODULE", "bench.queues.driver_procrastinate") for a in DRIVER_WORKER)),
    System("pgqueuer", "pgqueuer", "bench.queues.driver_pgqueuer", "pgqueuer", True, "batch",
           tuple(a.replace("MODULE", "bench.queues.driver_pgqueuer") for a in DRIVER_WORKER)),
    System("huey", "huey on SQLite, no fsync", "bench.queues.driver_huey", "huey", False,
           "preload", HUEY_WORKER, (("BENCH_HUEY_FSYNC", "0"),), sqlite=True),
    System("huey-fsync", "huey on SQLite, fsync", "bench.queues.driver_huey", "huey", False,
           "preload", HUEY_WORKER, (("BENCH_HUEY_FSYNC", "1"),), sqlite=True),
)  # fmt: skip


@dataclass(frozen=True)
class Sizes:
    runs: int
    single: int
    batch: int
    drain_small: int
    drain_large: int
    drain_cap: float
    pickup: int
    steady_rate: int
    steady_seconds: int
    sleepers: int
    pgbench_seconds: int

    @classmethod
    def pick(cls, quick: bool) -> Sizes:
        if quick:
            return cls(1, 200, 2_000, 1_000, 5_000, 20, 20, 200, 5, 200, 3)
        return cls(3, 1_000, 10_000, 10_000, 100_000, 50, 60, 500, 20, 1_000, 10)


@dataclass
class Context:
    system: System
    python: Path
    env: dict[str, str]
    dsn: str | None
    collector: harness.Collector
    logs: Path
    results: dict[str, Any] = field(default_factory=dict)

    def driver(self, *args: str) -> dict[str, Any]:
        return harness.run_driver(self.python, self.system.module, list(args), self.env)

    def enqueue(self, n: int, *extra: str) -> dict[str, Any]:
        return self.driver("enqueue", "--n", str(n), *extra)

    def start_worker(self) -> harness.Worker:
        command = self.system.worker_command(self.python)
        return harness.Worker(command, self.env, self.logs / f"{self.system.name}-worker.log")

    def note_peaks(self, scenario: str, peaks: harness.Peaks) -> None:
        self.results.setdefault("peaks", {})[scenario] = {
            "locks": peaks.locks,
            "advisory_locks": peaks.advisory_locks,
            "rss_mb": round(peaks.rss_mb, 1),
            "guard_tripped": peaks.guard_tripped,
            "errors": peaks.errors[:3],
        }


def enqueue_rate(ctx: Context, n: int, mode: str) -> float:
    ctx.driver("reset")
    out = ctx.enqueue(n, "--mode", mode, "--batch-size", "500")
    return n / float(out["seconds"])


def drain(ctx: Context, n: int, cap: float, label: str) -> dict[str, Any]:
    """Fill the queue with the worker stopped, then time the worker emptying it."""
    ctx.driver("reset")
    ctx.enqueue(n, "--mode", ctx.system.fill, "--batch-size", "1000")
    ctx.collector.clear()
    before = harness.database_counters(ctx.dsn) if ctx.dsn else None
    with harness.Monitor(ctx.dsn) as monitor:
        worker = ctx.start_worker()
        monitor.worker = worker
        ctx.collector.wait(n, cap, abort=monitor.tripped)
        worker.stop()
    ctx.note_peaks(label, monitor.peaks)
    reports = ctx.collector.reports()
    done = len(reports)
    per_job: dict[str, float] = {}
    if before is not None and ctx.dsn and done:
        time.sleep(1.5)  # backends flush their statistics when they exit
        after = harness.database_counters(ctx.dsn)
        # Minus the monitor's own one-statement transactions and this query's.
        commits = after[0] - before[0] - monitor.samples - 1
        wal = after[1] - before[1]
        per_job = {"commits_per_job": commits / done, "wal_bytes_per_job": wal / done}
    span = max(r.ended for r in reports) - min(r.started for r in reports) if done > 1 else 0
    return {
        "n": n,
        "done": done,
        "rate": (done - 1) / span if span else float("nan"),
        "from_start_s": max(r.ended for r in reports) - worker.started if reports else None,
        "guard_tripped": monitor.peaks.guard_tripped,
        **per_job,
    }


@contextmanager
def running_worker(ctx: Context, label: str) -> Iterator[harness.Monitor]:
    ctx.driver("reset")
    with harness.Monitor(ctx.dsn) as monitor:
        worker = ctx.start_worker()
        monitor.worker = worker
        try:
            ctx.collector.clear()
            ctx.enqueue(1, "--first-seq", str(WARMUP_SEQ))
            if not ctx.collector.wait(1, 30):
                raise RuntimeError(f"{ctx.system.name}: the warm-up job never ran")
            yield monitor
        finally:
            worker.stop()
    ctx.note_peaks(label, monitor.peaks)


def _matched(
    ctx: Context, committed: list[float], first: int
) -> list[tuple[float, harness.Report]]:
    return [
        (committed[r.seq - first], r)
        for r in ctx.collector.reports()
        if 0 <= r.seq - first < len(committed)
    ]


def pickup(ctx: Context, n: int, first: int) -> dict[str, float]:
    """Jobs sent one by one at 20/s to an idle worker: commit to job start."""
    ctx.collector.clear()
    out = ctx.enqueue(n, "--rate", "20", "--first-seq", str(first))
    ctx.collector.wait(n, 30)
    waits = [(r.started - c) * 1000 for c, r in _matched(ctx, out["committed"], first)]
    return {"p50_ms": common.percentile(waits, 50), "p99_ms": common.percentile(waits, 99),
            "done": len(waits)}  # fmt: skip


def steady(ctx: Context, rate: int, seconds: int, first: int) -> dict[str, float]:
    """Offer `rate` jobs/s one by one for `seconds`; backlog and commit-to-end latency."""
    n = rate * seconds
    ctx.collector.clear()
    out = ctx.enqueue(n, "--rate", str(rate), "--first-seq", str(first))
    ctx.collector.wait(n, 20)
    committed = out["committed"]
    pairs = _matched(ctx, committed, first)
    latencies = [(r.ended - c) * 1000 for c, r in pairs]
    events = sorted([(c, 1) for c in committed] + [(r.ended, -1) for _, r in pairs])
    backlog = peak = 0
    for _, delta in events:
        backlog += delta
        peak = max(peak, backlog)
    end_of_offer = committed[-1]
    behind = sum(1 for c in committed if c <= end_of_offer) - sum(
        1 for _, r in pairs if r.ended <= end_of_offer
    )
    return {
        "offered_rate": n / float(out["seconds"]),
        "max_backlog": peak,
        "backlog_at_end": behind,
        "p50_ms": common.percentile(latencies, 50),
        "p99_ms": common.percentile(latencies, 99),
        "unfinished": n - len(pairs),
    }


def sleepers(ctx: Context, n: int, first: int) -> dict[str, float]:
    """n jobs that each sleep 100 ms: how many of the slots stay busy."""
    ctx.collector.clear()
    mode = "batch" if ctx.system.batch else "single"
    ctx.enqueue(n, "--mode", mode, "--sleep-ms", "100", "--first-seq", str(first))
    ctx.collector.wait(n, 90)
    reports = [r for r in ctx.collector.reports() if r.seq >= first]
    span = max(r.ended for r in reports) - min(r.started for r in reports) if reports else 0
    busy = sum(r.ended - r.started for r in reports) / span if span else float("nan")
    return {"busy_slots": busy, "makespan_s": span, "done": len(reports)}


def measure(ctx: Context, sizes: Sizes) -> None:
    res, runs = ctx.results, range(sizes.runs)
    print(f"== {ctx.system.name}", file=sys.stderr, flush=True)
    res["enqueue_single"] = [enqueue_rate(ctx, sizes.single, "single") for _ in runs]
    if ctx.system.batch:
        res["enqueue_batch"] = [enqueue_rate(ctx, sizes.batch, "batch") for _ in runs]
    res["drain_small"] = [drain(ctx, sizes.drain_small, sizes.drain_cap, "drain_small")
                          for _ in runs]  # fmt: skip
    res["drain_large"] = [drain(ctx, sizes.drain_large, sizes.drain_cap * 1.8, "drain_large")]
    with running_worker(ctx, "running"):
        res["pickup"] = [pickup(ctx, sizes.pickup, (i + 1) * 10**6) for i in runs]
        res["sleep"] = [sleepers(ctx, sizes.sleepers, (i + 1) * 10**7) for i in runs]
        res["steady"] = [steady(ctx, sizes.steady_rate, sizes.steady_seconds, 10**8)]


def prepare(system: System, admin_dsn: str, collector: harness.Collector, logs: Path) -> Context:
    python = (
        common.ROOT / ".venv" / "bin" / "python"
        if system.requirements is None
        else harness.ensure_venv(system.requirements)
    )
    env = {**os.environ, "BENCH_PROBE": collector.address, "PYTHONUNBUFFERED": "1"}
    env.update(dict(system.env))
    dsn = None
    if system.sqlite:
        env["BENCH_HUEY_DB"] = str(logs / f"{system.name}.db")
        env["BENCH_DSN"] = ""
    else:
        dsn = harness.recreate_database(admin_dsn, f"bench_q_{system.name.replace('-', '_')}")
        env.update(BENCH_DSN=dsn, DATABASE_URL=dsn, DJANGO_SETTINGS_MODULE="backend.settings")
    ctx = Context(system, python, env, dsn, collector, logs)
    ctx.driver("setup")
    return ctx


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, one run: a smoke test")
    parser.add_argument("--systems", default=",".join(s.name for s in SYSTEMS))
    parser.add_argument("--database-url", help="admin DSN of an existing server to use instead")
    parser.add_argument("--no-wait", action="store_true", help="do not wait for a quiet machine")
    parser.add_argument("--no-report", action="store_true", help="print, do not write the doc")
    args = parser.parse_args()
    sizes = Sizes.pick(args.quick)
    chosen = [s for s in SYSTEMS if s.name in args.systems.split(",")]
    quiet = "not waited for" if args.no_wait else common.wait_for_quiet()
    meta: dict[str, Any] = {"command": common.command_line(), "quiet": quiet,
                            "load_start": common.loadavg(), "date": common.now_utc(),
                            "sizes": sizes.__dict__, "slots": SLOTS}  # fmt: skip
    started = time.monotonic()
    logs = Path(tempfile.mkdtemp(prefix="bench-queues-"))
    collector = harness.Collector()
    results: dict[str, Any] = {}
    cluster = nullcontext(args.database_url) if args.database_url else harness.private_cluster()
    with cluster as admin_dsn:
        meta["postgres"] = common.postgres_version(admin_dsn)
        meta["private_cluster"] = not args.database_url
        meta["pgbench"] = report.pgbench_ceiling(admin_dsn, sizes.pgbench_seconds, sizes.runs)
        for system in chosen:
            try:
                ctx = prepare(system, admin_dsn, collector, logs)
                measure(ctx, sizes)
                results[system.name] = ctx.results
            except Exception as exc:  # a peer that fails is reported, not fatal
                results[system.name] = {"error": f"{type(exc).__name__}: {exc}"[:2000]}
            (logs / "results.json").write_text(json.dumps({"meta": meta, "results": results}))
    meta["load_end"] = common.loadavg()
    meta["minutes"] = (time.monotonic() - started) / 60
    meta["versions"] = report.versions(chosen)
    (logs / "results.json").write_text(json.dumps({"meta": meta, "results": results}, indent=1))
    body = report.render(meta, results, [(s.name, s.label) for s in chosen])
    print(body)
    print(f"raw results and worker logs: {logs}", file=sys.stderr)
    if not args.no_report:
        print(f"wrote {common.write_section('queues', body)}", file=sys.stderr)


if __name__ == "__main__":
    main()
