"""Image pipeline: time and peak memory of photo_render against bare Pillow, per image.

Usage: .venv/bin/python bench/image_pipeline.py [--quick] [--runs 5] [--no-wait]

Each case runs in a fresh process (bench/imaging_case.py), so its VmHWM is that
case's own peak; tracemalloc shows the Python heap alone (Pillow's pixel buffers
live outside it). "bare" is the least Pillow work that writes the same files:
decode (draft for JPEG), fit, encode WebP; "bare-fast" also lets resize reduce
first (reducing_gap=2), which changes pixels slightly.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common
from bench.images import CACHE, big_png, phone_jpeg

IMPLEMENTATIONS = ("ours", "bare", "bare-fast")


def cases() -> dict[str, Path]:
    phone_jpeg(0)
    big_png(0)
    return {
        "12 MP JPEG (4032x3024)": CACHE / "phone-4032x3024-q84-0.jpg",
        "24 MP PNG (6000x4000)": CACHE / "big-6000x4000-0.png",
    }


def run_case(impl: str, path: Path, app_root: str | None) -> dict[str, Any]:
    env = dict(os.environ)
    if app_root:
        env["BENCH_APP_ROOT"] = app_root
    out = subprocess.run(
        [sys.executable, "-m", "bench.imaging_case", impl, str(path)],
        cwd=common.ROOT, env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def render(meta: dict[str, Any], results: dict[str, dict[str, list[dict[str, Any]]]]) -> str:
    lines = [
        "## Image pipeline",
        "",
        f"Measured {meta['date']} with `{meta['command']}` in {meta['minutes']:.1f} min.",
        f"Load average at start {meta['load_start']}, at end {meta['load_end']} "
        f"(wait for a quiet machine: {meta['quiet']}).",
        *common.machine_lines(),
        f"- Pillow {meta['pillow']}; {meta['runs']} fresh processes per cell, median (min-max);"
        + (f" backend from `{meta['app_root']}`" if meta["app_root"] else ""),
        "",
        "| image | implementation | time ms | peak memory added MB (VmHWM) "
        "| Python heap peak MB | time ÷ bare | memory ÷ bare |",
        "|---|---|---|---|---|---|---|",
    ]
    for case, by_impl in results.items():
        bare_t = common.Spread.of(r["seconds"] for r in by_impl["bare"]).median
        bare_m = common.Spread.of(r["peak_added_mb"] for r in by_impl["bare"]).median
        for impl, runs in by_impl.items():
            t = common.Spread.of(r["seconds"] * 1000 for r in runs)
            m = common.Spread.of(r["peak_added_mb"] for r in runs)
            py = common.Spread.of(r["python_peak_mb"] for r in runs)
            lines.append(
                f"| {case} | {impl} | {t.fmt(0)} | {m.fmt(0)} | {py.fmt(2)} | "
                f"{t.median / 1000 / bare_t:.2f} | {m.median / bare_m:.2f} |"
            )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one run per cell")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--app-root", help="import backend from this tree (a scratch copy)")
    parser.add_argument("--no-wait", action="store_true")
    parser.add_argument("--no-report", action="store_true")
    args = parser.parse_args()
    runs = 1 if args.quick else args.runs
    images = cases()
    quiet = "not waited for" if args.no_wait else common.wait_for_quiet()
    from PIL import __version__ as pillow

    meta: dict[str, Any] = {"command": common.command_line(), "quiet": quiet, "runs": runs,
                            "load_start": common.loadavg(), "date": common.now_utc(),
                            "pillow": pillow, "app_root": args.app_root}  # fmt: skip
    started = time.monotonic()
    results: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for case, path in images.items():
        for _ in range(runs):
            # Interleave implementations so drifting load hits them alike.
            for impl in IMPLEMENTATIONS:
                run = run_case(impl, path, args.app_root)
                results.setdefault(case, {}).setdefault(impl, []).append(run)
    meta.update(load_end=common.loadavg(), minutes=(time.monotonic() - started) / 60)
    body = render(meta, results)
    print(body)
    if not args.no_report:
        print(f"wrote {common.write_section('imaging', body)}", file=sys.stderr)


if __name__ == "__main__":
    main()
