"""Fixtures for operations tests: the fake Cloudflare, workers that use it, Prometheus parsing."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import pytest

from backend.media.fake_cloudflare import FakeCloudflareImages
from tests.conftest import WorkerProcess

TOKEN = "cf-ops-token"
ACCOUNT = "acct-ops"
ACCOUNT_HASH = "hash-ops"


@pytest.fixture
def fake_cf(settings) -> Iterator[FakeCloudflareImages]:
    with FakeCloudflareImages(token=TOKEN, account_id=ACCOUNT, account_hash=ACCOUNT_HASH) as fake:
        settings.PHOTO_STORAGE = "cloudflare_images"
        settings.CF_API_BASE = fake.api_base
        settings.CF_ACCT_ID = ACCOUNT
        settings.CF_IMG_TOKEN = TOKEN
        settings.CF_IMG_HASH = ACCOUNT_HASH
        yield fake


@pytest.fixture
def cf_worker(start_worker, fake_cf) -> Callable[..., WorkerProcess]:
    def start(*args: str, **env: str) -> WorkerProcess:
        worker: WorkerProcess = start_worker(
            *args,
            PHOTO_STORAGE="cloudflare_images",
            CF_API_BASE=fake_cf.api_base,
            CF_ACCT_ID=ACCOUNT,
            CF_IMG_TOKEN=TOKEN,
            CF_IMG_HASH=ACCOUNT_HASH,
            **env,
        )
        return worker

    return start


_SAMPLE = re.compile(
    r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>[^}]*)\})? (?P<value>\S+)$"
)
_LABEL = re.compile(r'(?P<key>[a-zA-Z_][a-zA-Z0-9_]*)="(?P<value>(?:[^"\\]|\\.)*)"')

Series = tuple[str, frozenset[tuple[str, str]]]


def parse_metrics(text: str) -> dict[Series, float]:
    """Parse Prometheus text format strictly enough to catch a malformed line."""
    samples: dict[Series, float] = {}
    typed: set[str] = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            typed.add(line.split()[2])
            continue
        if line.startswith("#") or not line:
            continue
        match = _SAMPLE.match(line)
        assert match, f"malformed metrics line: {line!r}"
        name = match["name"]
        family = re.sub(r"_(bucket|sum|count)$", "", name)
        assert name in typed or family in typed, f"sample without # TYPE: {line!r}"
        labels = frozenset((m["key"], m["value"]) for m in _LABEL.finditer(match["labels"] or ""))
        samples[(name, labels)] = float(match["value"])
    return samples


def sample(samples: dict[Series, float], name: str, **labels: str) -> float:
    """One series' value; 0 when the series is absent (counters start at zero)."""
    return samples.get((name, frozenset(labels.items())), 0.0)
