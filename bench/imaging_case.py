"""One image-pipeline case in a fresh process; prints time and memory as JSON.

Usage: python -m bench.imaging_case {ours,bare,bare-fast} FILE
BENCH_APP_ROOT, when set, is searched first for ``backend`` (to try a scratch copy).
"""

from __future__ import annotations

import io
import json
import os
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

from PIL import Image, ImageOps

SIZES = (512, 128)


def bare(data: bytes, *, reducing_gap: float | None = None) -> dict[int, bytes]:
    """The least Pillow work for the same files: decode (draft for JPEG), fit, encode WebP."""
    image: Image.Image = Image.open(io.BytesIO(data))
    if image.format == "JPEG":
        image.draft("RGB", (max(SIZES) * 2, max(SIZES) * 2))
    if image.mode not in ("RGB", "RGBA"):
        image = image.convert("RGB")
    out = {}
    for size in SIZES:
        if reducing_gap is None:
            fitted = ImageOps.fit(image, (size, size), Image.Resampling.LANCZOS)
        else:
            fitted = _fit_fast(image, size, reducing_gap)
        buffer = io.BytesIO()
        fitted.save(buffer, format="WEBP", quality=85, method=4)
        out[size] = buffer.getvalue()
    return out


def _fit_fast(image: Image.Image, size: int, reducing_gap: float) -> Image.Image:
    side = min(image.size)
    left, top = (image.width - side) // 2, (image.height - side) // 2
    return image.resize(
        (size, size),
        Image.Resampling.LANCZOS,
        box=(left, top, left + side, top + side),
        reducing_gap=reducing_gap,
    )


def implementation(name: str) -> Callable[[bytes], dict[int, bytes]]:
    if name == "ours":
        root = os.environ.get("BENCH_APP_ROOT")
        if root:
            sys.path.insert(0, root)
        from backend.profiles import imaging

        return imaging.photo_render
    if name == "bare-fast":
        return lambda data: bare(data, reducing_gap=2.0)
    return bare


def status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    name, path = sys.argv[1], Path(sys.argv[2])
    render = implementation(name)
    data = path.read_bytes()
    # Load the codecs and plugins on a tiny image of the same format, untimed.
    tiny = io.BytesIO()
    Image.new("RGB", (64, 48), (9, 99, 199)).save(tiny, format=Image.open(path).format)
    render(tiny.getvalue())
    before = status_mb("VmRSS")
    tracemalloc.start()
    started = time.perf_counter()
    outputs = render(data)
    seconds = time.perf_counter() - started
    _, python_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    # VmHWM, not ru_maxrss: Linux carries the parent's peak into ru_maxrss across
    # fork and exec, so a parent that had just made a 24 MP test image showed
    # its 100 MB in every case. VmHWM belongs to this process's memory alone.
    max_rss = status_mb("VmHWM")
    json.dump(
        {
            "seconds": seconds,
            "rss_before_mb": before,
            "max_rss_mb": max_rss,
            "peak_added_mb": max_rss - before,
            "python_peak_mb": python_peak / 2**20,
            "output_bytes": {str(k): len(v) for k, v in outputs.items()},
        },
        sys.stdout,
    )


if __name__ == "__main__":
    main()
