"""The pgbench ceiling and the Markdown for queue_compare.py's section of docs/benchmarks.md."""

from __future__ import annotations

import re
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psycopg

from bench import common
from bench.queues import harness

# One job's life as three commits: insert, claim with SKIP LOCKED, finish (delete).
LIFECYCLE = """\
INSERT INTO job (payload) VALUES ('{"actor": "noop", "args": []}');
WITH claimed AS (
  UPDATE job SET state = 'running'
  WHERE id = (SELECT id FROM job WHERE state = 'queued' ORDER BY id
              LIMIT 1 FOR UPDATE SKIP LOCKED)
  RETURNING id)
SELECT coalesce((SELECT id FROM claimed), 0) AS jid \\gset
DELETE FROM job WHERE id = :jid;
"""
SCHEMA = """
CREATE TABLE job (id bigserial PRIMARY KEY, state text NOT NULL DEFAULT 'queued',
                  payload jsonb NOT NULL, created_at timestamptz NOT NULL DEFAULT now());
CREATE INDEX job_queued ON job (id) WHERE state = 'queued';
"""


def pgbench_ceiling(admin_dsn: str, seconds: int, runs: int) -> dict[str, Any]:
    """Job lifecycles per second with 1 and 8 pgbench clients."""
    dsn = harness.recreate_database(admin_dsn, "bench_q_pgbench")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(SCHEMA)
    script = Path(tempfile.mkstemp(suffix=".sql")[1])
    script.write_text(LIFECYCLE)
    out: dict[str, Any] = {"script": LIFECYCLE}
    for clients in (1, 8):
        rates = []
        for _ in range(runs):
            with psycopg.connect(dsn, autocommit=True) as conn:
                conn.execute("TRUNCATE job")
                conn.execute("VACUUM ANALYZE job")
            result = subprocess.run(
                ["pgbench", "-n", "-M", "prepared", "-T", str(seconds), "-c", str(clients),
                 "-j", str(min(clients, 2)), "-f", str(script), dsn],
                capture_output=True, text=True, check=False,
            )  # fmt: skip
            match = re.search(r"tps = ([\d.]+) \(without initial", result.stdout)
            if match is None:
                out[f"error_{clients}"] = (result.stdout + result.stderr)[-1500:]
                break
            rates.append(float(match.group(1)))
        out[str(clients)] = rates
    script.unlink()
    return out


def versions(systems: Sequence[Any]) -> dict[str, str]:
    found: dict[str, str] = {}
    wanted = {
        "project": ["dramatiq", "dramatiq-postgres", "psycopg", "Django", "django_dramatiq"],
        "dramatiq-pg": ["dramatiq", "dramatiq-pg", "psycopg2-binary"],
        "procrastinate": ["procrastinate", "psycopg"],
        "pgqueuer": ["pgqueuer", "asyncpg"],
        "huey": ["huey"],
    }
    for system in systems:
        key = system.requirements or "project"
        venv = common.ROOT / (".venv" if key == "project" else f"bench/.venvs/{key}")
        for name, version in common.pip_versions(venv / "bin" / "python", wanted[key]).items():
            found[f"{key}: {name}"] = version
    return found


def _get(res: dict[str, Any], key: str, field: str) -> common.Spread:
    return common.Spread.of(float(run[field]) for run in res.get(key, []) if field in run)


def _rates(res: dict[str, Any], key: str) -> common.Spread:
    return common.Spread.of(float(v) for v in res.get(key, []))


def _drain_cell(res: dict[str, Any], key: str) -> str:
    runs = res.get(key, [])
    cell = _get(res, key, "rate").fmt(0)
    short = [r for r in runs if r["done"] < r["n"]]
    if short:
        r = short[0]
        why = "lock guard" if r.get("guard_tripped") else "time cap"
        cell += f"; {r['done']:,} of {r['n']:,} done ({why})"
    return cell


def _headline(meta: dict[str, Any]) -> dict[str, common.Spread]:
    pgb = meta["pgbench"]
    return {c: common.Spread.of(pgb.get(c, [])) for c in ("1", "8")}


def render(meta: dict[str, Any], results: dict[str, Any], labels: list[tuple[str, str]]) -> str:
    sizes, ceiling = meta["sizes"], _headline(meta)
    lines = [
        "## Queue throughput and latency",
        "",
        f"Measured {meta['date']} with `{meta['command']}` in {meta['minutes']:.1f} min.",
        f"Load average at start {meta['load_start']}, at end {meta['load_end']} "
        f"(wait for a quiet machine: {meta['quiet']}).",
        *common.machine_lines(),
        f"- PostgreSQL {meta['postgres']}"
        + (", a private cluster with default settings started for the run"
           if meta["private_cluster"] else ", an existing server"),
        "- versions: " + ", ".join(f"{k} {v}" for k, v in sorted(meta["versions"].items())),
        f"- {meta['slots']} job slots per system, one worker process; runs per cell: "
        f"{sizes['runs']} unless marked (median, min-max in brackets).",
        "",
        f"**Ceiling** (pgbench, insert + claim + finish as three commits): "
        f"{ceiling['1'].fmt(0)} lifecycles/s with 1 client, {ceiling['8'].fmt(0)} with 8.",
        "",
        f"| system | enqueue one by one /s | enqueue batched /s "
        f"| drain {sizes['drain_small']:,} /s | drain {sizes['drain_large']:,} /s "
        f"| drain {sizes['drain_small']:,} ÷ ceiling (8 clients) |",
        "|---|---|---|---|---|---|",
    ]  # fmt: skip
    for name, label in labels:
        res = results.get(name, {})
        if "error" in res:
            lines.append(f"| {label} | could not run: `{res['error'][:300]}` | | | | |")
            continue
        drain = _get(res, "drain_small", "rate")
        ratio = drain.median / ceiling["8"].median if ceiling["8"].runs else float("nan")
        lines.append(
            f"| {label} | {_rates(res, 'enqueue_single').fmt(0)} | "
            f"{_rates(res, 'enqueue_batch').fmt(0) if 'enqueue_batch' in res else 'not supported'}"
            f" | {_drain_cell(res, 'drain_small')} | {_drain_cell(res, 'drain_large')} | "
            f"{ratio:.2f} |"
        )
    lines += _latency_table(results, labels, sizes) + _resources(results, labels)
    lines += _ratios(results, labels) + _matrix(results, labels)
    return "\n".join(lines) + "\n"


def _matrix(results: dict[str, Any], labels: list[tuple[str, str]]) -> list[str]:
    ok = [(n, lab) for n, lab in labels if "error" not in results.get(n, {"error": 1})]
    rate = {n: _get(results[n], "drain_small", "rate").median for n, _ in ok}
    lines = ["", "Drain rate (small backlog), row ÷ column:", ""]
    lines.append("| | " + " | ".join(n for n, _ in ok) + " |")
    lines.append("|---|" + "---|" * len(ok))
    for row, _ in ok:
        cells = [f"{rate[row] / rate[col]:.2f}" if rate[col] else "n/a" for col, _ in ok]
        lines.append(f"| {row} | " + " | ".join(cells) + " |")
    return lines


def _latency_table(results: dict[str, Any], labels: list[tuple[str, str]], sizes: Any) -> list[str]:
    rate, secs = sizes["steady_rate"], sizes["steady_seconds"]
    lines = [
        "",
        f"| system | pick-up p50 ms | pick-up p99 ms | steady {rate}/s for {secs} s: offered /s "
        f"| max backlog | behind at end | p50 ms | p99 ms | unfinished | "
        f"{sizes['sleepers']:,} jobs of 100 ms: busy slots of 16 |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, label in labels:
        res = results.get(name, {})
        if "error" in res:
            continue
        st = res.get("steady", [{}])[0]
        steady = (
            f"{st['offered_rate']:,.0f} | {st['max_backlog']:,} | {st['backlog_at_end']:,} | "
            f"{st['p50_ms']:,.0f} | {st['p99_ms']:,.0f} | {st['unfinished']:,}"
            if st
            else "n/a | | | | |"
        )
        lines.append(
            f"| {label} | {_get(res, 'pickup', 'p50_ms').fmt(1)} | "
            f"{_get(res, 'pickup', 'p99_ms').fmt(1)} | {steady} | "
            f"{_get(res, 'sleep', 'busy_slots').fmt(1)} |"
        )
    lines.append("")
    lines.append("Steady-state and the large drain ran once per system (time budget).")
    return lines


def _resources(results: dict[str, Any], labels: list[tuple[str, str]]) -> list[str]:
    lines = [
        "",
        "| system | peak Postgres locks (advisory) | peak worker RSS MB "
        "| commits per job (small drain) | WAL bytes per job | notes |",
        "|---|---|---|---|---|---|",
    ]
    for name, label in labels:
        peaks = results.get(name, {}).get("peaks", {})
        if not peaks:
            continue
        locks = max(p["locks"] for p in peaks.values())
        advisory = max(p["advisory_locks"] for p in peaks.values())
        rss = max(p["rss_mb"] for p in peaks.values())
        notes = "; ".join(f"{k}: {e}" for k, p in peaks.items() for e in p["errors"][:1]) or (
            "lock guard tripped" if any(p["guard_tripped"] for p in peaks.values()) else ""
        )
        sqlite = name.startswith("huey")
        res = results[name]
        commits = _get(res, "drain_small", "commits_per_job")
        wal = _get(res, "drain_small", "wal_bytes_per_job")
        lines.append(
            f"| {label} | {'n/a (SQLite)' if sqlite else f'{locks:,} ({advisory:,})'} | "
            f"{rss:,.0f} | {commits.fmt(2) if commits.runs else 'n/a'} | "
            f"{wal.fmt(0) if wal.runs else 'n/a'} | {notes[:300]} |"
        )
    return lines


def _ratios(results: dict[str, Any], labels: list[tuple[str, str]]) -> list[str]:
    metrics = [
        ("drain (small)", lambda r: _get(r, "drain_small", "rate").median, False),
        ("drain (large)", lambda r: _get(r, "drain_large", "rate").median, False),
        ("enqueue one by one", lambda r: _rates(r, "enqueue_single").median, False),
        ("busy slots, 100 ms jobs", lambda r: _get(r, "sleep", "busy_slots").median, False),
        ("pick-up p50 (lower is better)", lambda r: _get(r, "pickup", "p50_ms").median, True),
    ]
    ok = [(n, lab) for n, lab in labels if "error" not in results.get(n, {"error": 1})]
    if "project" not in dict(ok) or len(ok) < 2:
        return []
    lines = ["", "This project's queue relative to each peer (above 1: the project is better):", ""]
    peers = [(n, lab) for n, lab in ok if n != "project"]
    lines.append("| metric | " + " | ".join(lab for _, lab in peers) + " |")
    lines.append("|---|" + "---|" * len(peers))
    mine = results["project"]
    for title, get, lower_better in metrics:
        cells = []
        for name, _ in peers:
            a, b = get(mine), get(results[name])
            ratio = (b / a) if lower_better else (a / b)
            cells.append(f"{ratio:.2f}" if ratio == ratio and b and a else "n/a")
        lines.append(f"| {title} | " + " | ".join(cells) + " |")
    return lines
