"""Fixtures for the reliability suite: a private Postgres, the fake Cloudflare, the system."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from backend.media.fake_cloudflare import FakeCloudflareImages
from tests.reliability.harness import Postgres, System

TOKEN = "reliability-token"


@pytest.fixture
def pg() -> Iterator[Postgres]:
    # Not under pytest's tmp_path: every pytest run resets that tree to mode 0700,
    # which would cut the embedded server's own user off its data directory.
    root = Path(tempfile.mkdtemp(prefix="lagless-pg-"))
    server = Postgres(root / "pg")
    yield server
    server.stop()
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def fake_cf() -> Iterator[FakeCloudflareImages]:
    with FakeCloudflareImages(token=TOKEN, account_id="acct", account_hash="hash") as fake:
        yield fake


@pytest.fixture
def system(pg: Postgres, fake_cf: FakeCloudflareImages, tmp_path: Path) -> Iterator[System]:
    env = {
        "PHOTO_STORAGE": "cloudflare_images",
        "CF_API_BASE": fake_cf.api_base,
        "CF_ACCT_ID": "acct",
        "CF_IMG_TOKEN": TOKEN,
        "CF_IMG_HASH": "hash",
        "CF_READ_TIMEOUT": "3",
    }
    (tmp_path / "media").mkdir(exist_ok=True)
    running = System(database_url=pg.url, workdir=tmp_path, env=env)
    running.manage("migrate", "--no-input")
    running.manage("collectstatic", "--no-input")
    yield running
    running.stop()
    for process in running.processes:
        print(f"--- {process.log_path.name} ---\n{process.log()[-3000:]}")


def jobs_by_state(pg: Postgres) -> dict[str, int]:
    with pg.connect() as conn:
        rows = conn.execute(
            "SELECT state, count(*) FROM profiles_photojob GROUP BY state"
        ).fetchall()
    return {state: count for state, count in rows}


def query(pg: Postgres, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with pg.connect() as conn:
        return conn.execute(sql, params).fetchall()
