"""Helpers shared by the benchmark commands: statistics, machine facts, load waits, the report.

Every benchmark writes one section of docs/benchmarks.md between markers, so the
commands can be rerun in any order without clobbering each other's results.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
REPORT = ROOT / "docs" / "benchmarks.md"
REPORT_HEADER = """# Benchmarks

Numbers measured by the commands in `bench/` (see README, Benchmarks). Each section
is rewritten by the command that produced it; a section says when and where it was
measured and which command reproduces it. Speed goals live here, never as timed
assertions in tests.
"""


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(pct / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


@dataclass(frozen=True)
class Spread:
    """Median and range of repeated runs of one measurement."""

    median: float
    low: float
    high: float
    runs: int

    @classmethod
    def of(cls, values: Iterable[float]) -> Spread:
        data = [v for v in values if v == v]  # drop NaN
        if not data:
            return cls(float("nan"), float("nan"), float("nan"), 0)
        return cls(statistics.median(data), min(data), max(data), len(data))

    def fmt(self, digits: int = 0, unit: str = "") -> str:
        if self.runs == 0:
            return "n/a"
        med = f"{self.median:,.{digits}f}{unit}"
        if self.runs == 1:
            return f"{med} (1 run)"
        return f"{med} ({self.low:,.{digits}f}-{self.high:,.{digits}f})"


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def wait_for_quiet(*, below: float = 1.0, poll: float = 30.0, give_up: float = 25 * 60) -> str:
    """Wait until the 1-minute load average is below `below`; say how the wait ended."""
    started = time.monotonic()
    while True:
        one = float(loadavg().split()[0])
        if one < below:
            return f"load {one:.2f} < {below} after {time.monotonic() - started:.0f} s of waiting"
        if time.monotonic() - started > give_up:
            return f"gave up waiting after {give_up / 60:.0f} min (load {one:.2f}); ran anyway"
        print(f"  waiting for a quiet machine: load {loadavg()}", file=sys.stderr, flush=True)
        time.sleep(poll)


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _run(command: list[str]) -> str:
    try:
        return subprocess.run(command, capture_output=True, text=True, check=False).stdout.strip()
    except OSError as exc:
        return f"({command[0]}: {exc})"


def machine_lines() -> list[str]:
    free = _run(["free", "-h"]).splitlines()
    memory = free[1].split()[1] if len(free) > 1 else "?"
    return [
        f"- machine: {_run(['nproc'])} cores ({cpu_model()}), {memory} memory (`free -h`), "
        f"{platform.system()} {platform.release()}",
        f"- Python {platform.python_version()}; {_tree()}",
    ]


def _tree() -> str:
    head = _run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"])
    dirty = _run(["git", "-C", str(ROOT), "status", "--porcelain", "--", "backend", "actors"])
    changed = len(dirty.splitlines())
    if not changed:
        return f"code at commit {head}"
    return f"code at commit {head} plus {changed} uncommitted changes under backend/ and actors/"


def pip_versions(python: Path | str, names: Iterable[str]) -> dict[str, str]:
    """Installed versions of `names` in the environment of `python`."""
    code = (
        "import importlib.metadata as m, sys\n"
        "for n in sys.argv[1:]:\n"
        "    try: print(n, m.version(n))\n"
        "    except m.PackageNotFoundError: print(n, '-')\n"
    )
    out = _run([str(python), "-c", code, *names])
    return dict(line.split(" ", 1) for line in out.splitlines() if " " in line)


def postgres_version(dsn: str) -> str:
    out = _run(["psql", dsn, "-Atc", "SHOW server_version"])
    return out or "unknown"


def now_utc() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def write_section(name: str, body: str) -> Path:
    """Replace (or append) the section called `name` in docs/benchmarks.md."""
    begin, end = f"<!-- bench:{name}:begin -->", f"<!-- bench:{name}:end -->"
    block = f"{begin}\n{body.rstrip()}\n{end}"
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    text = REPORT.read_text() if REPORT.exists() else REPORT_HEADER
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _: block, text)
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    REPORT.write_text(text)
    return REPORT


def command_line() -> str:
    args = " ".join(sys.argv[1:])
    script = Path(sys.argv[0]).resolve().relative_to(ROOT) if sys.argv else "?"
    return f".venv/bin/python {script} {args}".strip()


def env_without(*names: str) -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in names}
