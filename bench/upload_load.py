"""Upload under load: N signed-in users posting 2 MB phone JPEGs while the storage takes 7 s.

Usage: .venv/bin/python bench/upload_load.py [--quick] [--users 1,10,50,100] [--no-wait]

Runs the real stack on loopback (uvicorn as in the Procfile, `manage.py rundramatiq`,
the fake Cloudflare at 7 s per upload, Postgres) and measures, for each N, the upload
request's latency and throughput, then the time until each photo is available
(PhotoJob.finished_at - created_at). In the same run, a second uvicorn with
bench/seed_settings.py serves the seed's approach: render and store inside the request.
Postgres is a private PostgreSQL 15 cluster with default settings started for the run
(a hundred uploads at once use a hundred connections, which must not starve other
databases on a shared server), unless --database-url names an existing server.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common
from bench.images import phone_jpeg
from bench.queues.harness import private_cluster
from bench.upload import load, stack
from bench.upload.report import render


def cpu_busy_ticks() -> tuple[int, int]:
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def wait_jobs(since: dt.datetime, count: int, timeout: float) -> list[Any]:
    from backend.profiles.models import PhotoJob

    deadline = time.monotonic() + timeout
    while True:
        jobs = list(PhotoJob.objects.filter(created_at__gte=since).defer("original"))
        finished = [j for j in jobs if j.finished_at is not None]
        if len(finished) >= count or time.monotonic() > deadline:
            return jobs
        time.sleep(0.5)


def request_stats(results: list[load.Result], cpu: float, busy: float) -> dict[str, Any]:
    ok = [r for r in results if r.status in (200, 302)]
    ms = [r.ms for r in ok]
    span = max(r.ended for r in results) - min(r.started for r in results)
    return {
        "requests": len(results),
        "errors": len(results) - len(ok),
        "statuses": sorted({r.status for r in results}),
        "p50_ms": common.percentile(ms, 50),
        "p95_ms": common.percentile(ms, 95),
        "p99_ms": common.percentile(ms, 99),
        "max_ms": max(ms) if ms else float("nan"),
        "rps": len(ok) / span if span else float("nan"),
        "server_cpu_ms_per_request": cpu * 1000 / max(1, len(results)),
        "machine_busy": busy,
    }


def job_stats(jobs: list[Any]) -> dict[str, Any]:
    done = [j for j in jobs if j.finished_at is not None and j.started_at is not None]
    available = [(j.finished_at - j.created_at).total_seconds() for j in done]
    service = [(j.finished_at - j.started_at).total_seconds() for j in done]
    waiting = [(j.started_at - j.created_at).total_seconds() for j in done]
    edges = sorted([(j.started_at, 1) for j in done] + [(j.finished_at, -1) for j in done])
    running = peak = 0
    for _, delta in edges:
        running += delta
        peak = max(peak, running)
    return {
        "jobs": len(jobs),
        "done": sum(1 for j in jobs if j.state == "done"),
        "failed": sum(1 for j in jobs if j.state == "failed"),
        "available_p50_s": common.percentile(available, 50),
        "available_p95_s": common.percentile(available, 95),
        "available_max_s": max(available) if available else float("nan"),
        "service_p50_s": common.percentile(service, 50),
        "queue_wait_p50_s": common.percentile(waiting, 50),
        "peak_running_jobs": peak,
        "drain_s": _span(done),
    }


def _span(done: list[Any]) -> float:
    if not done:
        return float("nan")
    return float(
        (max(j.finished_at for j in done) - min(j.created_at for j in done)).total_seconds()
    )


def one_round(
    st: stack.Stack, users: list[load.User], mode: str, n: int, per_user: int, bodies: list[bytes]
) -> dict[str, Any]:
    from django.utils import timezone

    url = f"{st.url(mode)}/{'settings/photo/' if mode == 'app' else 'seed/photo/'}"
    since, cpu0, ticks0 = timezone.now(), st.cpu_seconds(mode), cpu_busy_ticks()
    results = load.run_users(users[:n], url, bodies, per_user)
    ticks1 = cpu_busy_ticks()
    busy = (ticks1[0] - ticks0[0]) / max(1, ticks1[1] - ticks0[1])
    out = request_stats(results, st.cpu_seconds(mode) - cpu0, busy)
    if mode == "app":
        accepted = out["requests"] - out["errors"]
        out.update(job_stats(wait_jobs(since, accepted, timeout=120 + accepted * 8)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 and 10 users, one run")
    parser.add_argument("--users", default="1,10,50,100")
    parser.add_argument("--uploads-per-user", type=int, default=3)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--worker-threads", type=int, default=32)
    parser.add_argument("--latency", type=float, default=7.0, help="fake Cloudflare seconds")
    parser.add_argument("--database-url", help="admin DSN of an existing server to use instead")
    parser.add_argument("--no-wait", action="store_true")
    parser.add_argument("--no-report", action="store_true")
    parser.add_argument(
        "--profile-web", action="store_true", help="py-spy on the app's uvicorn (bench/.venv)"
    )
    args = parser.parse_args()
    levels = [1, 10] if args.quick else [int(x) for x in args.users.split(",")]
    runs = 1 if args.quick else args.runs
    quiet = "not waited for" if args.no_wait else common.wait_for_quiet()
    meta: dict[str, Any] = {
        "command": common.command_line(), "quiet": quiet, "load_start": common.loadavg(),
        "date": common.now_utc(), "per_user": args.uploads_per_user, "runs": runs,
        "worker_threads": args.worker_threads, "latency": args.latency,
    }  # fmt: skip
    started = time.monotonic()
    cluster = nullcontext(args.database_url) if args.database_url else private_cluster()
    with cluster as admin_dsn:
        st = stack.Stack(admin_dsn, args.latency, args.worker_threads)
        meta["postgres"] = common.postgres_version(admin_dsn)
        meta["private_cluster"] = not args.database_url
        try:
            st.prepare()
            stack.django_setup(st.env)
            keys = stack.signed_in_users(max(levels))
            st.start()
            bodies = [load.multipart(phone_jpeg(seed)) for seed in range(4)]
            meta["photo_bytes"] = [len(b) for b in bodies]
            with web_profile(st, args.profile_web) as profile:
                results = measure_all(st, keys, levels, runs, args.uploads_per_user, bodies)
        finally:
            st.stop()
    meta.update(load_end=common.loadavg(), minutes=(time.monotonic() - started) / 60)
    (st.logs / "results.json").write_text(json.dumps({"meta": meta, "results": results}, indent=1))
    body = render(meta, results)
    if profile is not None:
        body = profile_section(meta, profile)
    print(body)
    print(f"raw results and logs: {st.logs}", file=sys.stderr)
    if not args.no_report:
        name = "profile-upload" if profile is not None else "upload"
        print(f"wrote {common.write_section(name, body)}", file=sys.stderr)


@contextmanager
def web_profile(st: stack.Stack, enabled: bool) -> Iterator[Path | None]:
    """py-spy on the app server while the block runs; yields where the samples go."""
    if not enabled:
        yield None
        return
    from bench.profile_queue import ensure_py_spy

    raw = st.logs / "py-spy-web.txt"
    spy = subprocess.Popen(
        [str(ensure_py_spy()), "record", "--pid", str(st.processes["app"].process.pid),
         "--format", "raw", "--rate", "100", "--output", str(raw)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        yield raw
    finally:
        spy.send_signal(signal.SIGINT)
        spy.wait(60)


def profile_section(meta: dict[str, Any], raw: Path) -> str:
    from bench.profile_queue import profile_lines, top_frames

    profile = top_frames(raw, 22)
    return "\n".join([
        "### Profile: the app's uvicorn process during queued uploads",
        "",
        f"Measured {meta['date']} with `{meta['command']}`; load average at start "
        f"{meta['load_start']}, at end {meta['load_end']}. py-spy at 100 Hz, "
        f"{profile.total:,} samples of active threads (the asyncio loop and the threads "
        "running Django's sync views).",
        "",
        *profile_lines(profile),
    ]) + "\n"  # fmt: skip


def measure_all(
    st: stack.Stack, keys: list[str], levels: list[int], runs: int, per_user: int,
    bodies: list[bytes],
) -> dict[str, Any]:  # fmt: skip
    users = [load.User(st.url("app"), key) for key in keys]
    # Warm both servers (imports, connections) before anything is timed.
    one_round(st, users, "app", 1, 1, bodies)
    one_round(st, users, "seed", 1, 1, bodies)
    results: dict[str, Any] = {}
    for n in levels:
        for run in range(runs):
            print(f"== {n} users, run {run + 1}", file=sys.stderr, flush=True)
            results.setdefault(f"app-{n}", []).append(
                one_round(st, users, "app", n, per_user, bodies)
            )
            results.setdefault(f"seed-{n}", []).append(one_round(st, users, "seed", n, 1, bodies))
    return results


if __name__ == "__main__":
    main()
