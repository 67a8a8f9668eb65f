"""Photo-like test images for the benchmarks, made with Pillow and cached in /tmp.

Flat colours compress to almost nothing, so these mix gradients, shapes and noise
until a 12-megapixel JPEG weighs about what a phone writes (2-4 MB).
"""

from __future__ import annotations

import io
import random
import tempfile
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter

CACHE = Path(tempfile.gettempdir()) / "lagless-bench-images"


def _scene(width: int, height: int, seed: int, noise: float = 0.2) -> Image.Image:
    rng = random.Random(seed)
    small = Image.linear_gradient("L").resize((width // 8, height // 8))
    flipped = small.transpose(Image.Transpose.FLIP_TOP_BOTTOM)
    base = Image.merge("RGB", (small, small.rotate(90), flipped))
    draw = ImageDraw.Draw(base)
    for _ in range(120):
        x, y = rng.randrange(base.width), rng.randrange(base.height)
        r = rng.randrange(4, base.width // 6)
        colour = tuple(rng.randrange(256) for _ in range(3))
        draw.ellipse((x - r, y - r, x + r, y + r), fill=colour)
    base = base.filter(ImageFilter.GaussianBlur(2))
    base = base.resize((width, height), Image.Resampling.BICUBIC)
    if not noise:
        return base
    grain = Image.effect_noise((width, height), 28).convert("RGB")
    return Image.blend(base, grain, noise)


def phone_jpeg(seed: int = 0, *, width: int = 4032, height: int = 3024, quality: int = 84) -> bytes:
    """A 12-megapixel JPEG of about 2 MB, like a phone photo."""
    path = CACHE / f"phone-{width}x{height}-q{quality}-{seed}.jpg"
    if not path.exists():
        out = io.BytesIO()
        _scene(width, height, seed).save(out, format="JPEG", quality=quality)
        CACHE.mkdir(exist_ok=True)
        path.write_bytes(out.getvalue())
    return path.read_bytes()


def big_png(seed: int = 0, *, width: int = 6000, height: int = 4000) -> bytes:
    """A 24-megapixel RGB PNG without grain, so it stays under the app's 10 MB limit."""
    path = CACHE / f"big-{width}x{height}-{seed}.png"
    if not path.exists():
        out = io.BytesIO()
        _scene(width, height, seed, noise=0).save(out, format="PNG", compress_level=6)
        CACHE.mkdir(exist_ok=True)
        path.write_bytes(out.getvalue())
    return path.read_bytes()
