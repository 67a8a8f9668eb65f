"""Markdown for upload_load.py's section of docs/benchmarks.md."""

from __future__ import annotations

from typing import Any

from bench import common


def _s(runs: list[dict[str, Any]], key: str) -> common.Spread:
    return common.Spread.of(float(r[key]) for r in runs if key in r)


def _levels(results: dict[str, Any]) -> list[int]:
    return sorted({int(k.split("-")[1]) for k in results})


def render(meta: dict[str, Any], results: dict[str, Any]) -> str:
    sizes = ", ".join(f"{b / 1e6:.2f}" for b in meta.get("photo_bytes", []))
    lines = [
        "## Upload under load",
        "",
        f"Measured {meta['date']} with `{meta['command']}` in {meta['minutes']:.1f} min.",
        f"Load average at start {meta['load_start']}, at end {meta['load_end']} "
        f"(wait for a quiet machine: {meta['quiet']}).",
        *common.machine_lines(),
        f"- PostgreSQL {meta['postgres']}"
        + (
            ", a private cluster with default settings (max_connections 100) started for the run"
            if meta["private_cluster"]
            else ", an existing server (database `bench_upload`)"
        ),
        "- stack: one uvicorn process as in the Procfile (ENV_NAME=prod), "
        f"`manage.py rundramatiq --processes 1 --threads {meta['worker_threads']}`, the fake "
        f"Cloudflare at {meta['latency']:g} s per upload; clients are threads with `requests` "
        "on the same 2 cores",
        f"- photos: 4032x3024 JPEGs of {sizes} MB; each user uploads "
        f"{meta['per_user']} photos back to back (the queued upload) or 1 (the seed's upload);"
        f" {meta['runs']} runs per row, median (min-max)",
        "",
        "| users | approach | requests/run | p50 ms | p95 ms | p99 ms | requests/s "
        "| server CPU ms per upload | machine busy | errors |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for n in _levels(results):
        for mode, name in (("app", "queued (this project)"), ("seed", "in the request (seed)")):
            runs = results.get(f"{mode}-{n}", [])
            if not runs:
                continue
            lines.append(
                f"| {n} | {name} | {runs[0]['requests']} | {_s(runs, 'p50_ms').fmt(0)} | "
                f"{_s(runs, 'p95_ms').fmt(0)} | {_s(runs, 'p99_ms').fmt(0)} | "
                f"{_s(runs, 'rps').fmt(1)} | {_s(runs, 'server_cpu_ms_per_request').fmt(0)} | "
                f"{_s(runs, 'machine_busy').median:.0%} | "
                f"{sum(r['errors'] for r in runs)} |"
            )
    lines += _jobs(meta, results)
    return "\n".join(lines) + "\n"


def _jobs(meta: dict[str, Any], results: dict[str, Any]) -> list[str]:
    lines = [
        "",
        "Time from the upload request to the photo being available (PhotoJob.finished_at - "
        f"created_at), {meta['worker_threads']} worker threads:",
        "",
        "| users | jobs/run | available p50 s | p95 s | max s | queue wait p50 s "
        "| job time p50 s | peak jobs running | last job done after s | failed |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for n in _levels(results):
        runs = results.get(f"app-{n}", [])
        if not runs or "jobs" not in runs[0]:
            continue
        lines.append(
            f"| {n} | {runs[0]['jobs']} | {_s(runs, 'available_p50_s').fmt(1)} | "
            f"{_s(runs, 'available_p95_s').fmt(1)} | {_s(runs, 'available_max_s').fmt(1)} | "
            f"{_s(runs, 'queue_wait_p50_s').fmt(1)} | {_s(runs, 'service_p50_s').fmt(1)} | "
            f"{_s(runs, 'peak_running_jobs').fmt(0)} | {_s(runs, 'drain_s').fmt(1)} | "
            f"{sum(r['failed'] for r in runs)} |"
        )
    return lines
