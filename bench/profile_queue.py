"""Profile a queue system while it drains a backlog: py-spy on the worker, pg_stat_statements.

Usage: .venv/bin/python bench/profile_queue.py [--system project] [--jobs 20000] [--no-wait]

Uses queue_compare.py's drivers and a private Postgres with pg_stat_statements;
py-spy comes from bench/.venv (bench/requirements-tools.txt). Prints, and writes
to docs/benchmarks.md, where the worker's CPU goes and which statements the
database spent its time on, per job.
"""

from __future__ import annotations

import argparse
import collections
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common
from bench.queue_compare import SYSTEMS, prepare
from bench.queues import harness

PG_SETTINGS = "-c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track=all"


def ensure_py_spy() -> Path:
    # Installed like the peers' venvs: with the caller's environment, so uv
    # sees the machine's certificate settings (SSL_CERT_FILE and the like).
    return harness.ensure_venv("tools").parent / "py-spy"


# Leaf frames where a thread waits rather than works; py-spy cannot always tell.
WAITS = {
    "Connection.wait": "waiting for Postgres (psycopg)",
    "Condition.wait": "waiting on a lock or condition",
    "Event.wait": "waiting on a lock or condition",
    "Queue.get": "idle (queue.get)",
    "_worker": "idle (thread pool)",
    "EpollSelector.select": "idle (event loop select)",
    "_PollLikeSelector.select": "idle (event loop select)",
}


@dataclass
class Profile:
    total: int
    waits: collections.Counter[str]
    inclusive: list[tuple[str, int]]
    own: list[tuple[str, int]]

    @property
    def busy(self) -> int:
        return self.total - sum(self.waits.values())


def top_frames(raw: Path, limit: int) -> Profile:
    """Where the samples wait, and which functions the working samples are in."""
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    waits: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [f.split(" (")[0] + " (" + _short(f) + ")" for f in stack.split(";")[1:]]
        total += count
        leaf = frames[-1].split(" (")[0] if frames else ""
        if leaf in WAITS:
            waits[WAITS[leaf]] += count
            continue
        for frame in set(frames):
            inclusive[frame] += count
        if frames:
            own[frames[-1]] += count
    return Profile(total, waits, inclusive.most_common(limit), own.most_common(limit))


def profile_lines(profile: Profile) -> list[str]:
    busy = max(1, profile.busy)
    return [
        "| share of all samples | where threads were waiting |",
        "|---|---|",
        *[f"| {n / profile.total:.0%} | {what} |" for what, n in profile.waits.most_common()],
        f"| {profile.busy / profile.total:.0%} | working (the tables below) |",
        "",
        "| share of working samples (inclusive) | function |",
        "|---|---|",
        *[f"| {count / busy:.0%} | `{frame}` |" for frame, count in profile.inclusive],
        "",
        "| share of working samples (self) | function |",
        "|---|---|",
        *[f"| {count / busy:.0%} | `{frame}` |" for frame, count in profile.own],
    ]


def _short(frame: str) -> str:
    location = frame.partition(" (")[2].rstrip(")")
    path, _, line = location.rpartition(":")
    for marker in ("site-packages/", "python3.11/", "/work/main/"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f"{path}:{line}" if line else path


def statements(dsn: str, jobs: int, limit: int = 10) -> list[str]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT calls, total_exec_time, rows, regexp_replace(query, '\\s+', ' ', 'g')"
            " FROM pg_stat_statements JOIN pg_database d ON d.oid = dbid"
            " WHERE d.datname = current_database() ORDER BY total_exec_time DESC LIMIT %s",
            (limit,),
        ).fetchall()
    return [
        f"| {calls / jobs:.2f} | {total:,.0f} | {rows / jobs:.2f} | `{query[:110]}` |"
        for calls, total, rows, query in rows
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--system", default="project", choices=[s.name for s in SYSTEMS])
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--no-wait", action="store_true")
    parser.add_argument("--no-report", action="store_true")
    args = parser.parse_args()
    py_spy = ensure_py_spy()
    system = next(s for s in SYSTEMS if s.name == args.system)
    quiet = "not waited for" if args.no_wait else common.wait_for_quiet()
    load_start, logs = common.loadavg(), Path(tempfile.mkdtemp(prefix="bench-profile-"))
    raw = logs / "py-spy.txt"
    with harness.private_cluster(PG_SETTINGS) as admin_dsn:
        ctx = prepare(system, admin_dsn, harness.Collector(), logs)
        ctx.enqueue(args.jobs, "--mode", system.fill, "--batch-size", "1000")
        if ctx.dsn:
            with psycopg.connect(ctx.dsn, autocommit=True) as conn:
                conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
                conn.execute("SELECT pg_stat_statements_reset()")
        ctx.collector.clear()
        worker = ctx.start_worker()
        spy = subprocess.Popen(
            [str(py_spy), "record", "--pid", str(worker.process.pid), "--subprocesses",
             "--format", "raw", "--rate", "100", "--output", str(raw)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        started = time.monotonic()
        ctx.collector.wait(args.jobs, 600)
        seconds = time.monotonic() - started
        spy.send_signal(signal.SIGINT)
        spy.wait(60)
        worker.stop()
        table = statements(ctx.dsn, args.jobs) if ctx.dsn else []
    body = render(args, quiet, load_start, seconds, raw, table)
    print(body)
    print(f"raw profile: {raw}", file=sys.stderr)
    if not args.no_report:
        common.write_section(f"profile-{args.system}", body)


def render(args, quiet, load_start, seconds, raw, table) -> str:
    profile = top_frames(raw, 18)
    lines = [
        f"### Profile: {args.system} draining {args.jobs:,} no-op jobs",
        "",
        f"Measured {common.now_utc()} with `{common.command_line()}`; load average at start "
        f"{load_start}, at end {common.loadavg()} (wait: {quiet}). Drain with py-spy "
        f"attached (100 Hz): {seconds:.1f} s, {args.jobs / seconds:,.0f} jobs/s; "
        f"{profile.total:,} samples of active threads.",
        "",
        *profile_lines(profile),
    ]
    if table:
        lines += [
            "",
            "Statements by total time in Postgres (pg_stat_statements), per job:",
            "",
            "| calls per job | total ms | rows per job | statement |",
            "|---|---|---|---|",
            *table,
        ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
