"""Static files under uvicorn in production mode: hashed names, cached for ever, compressed."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
import requests

from tests.conftest import ROOT
from tests.live.server import WebServer

HASHED_CSS = re.compile(r'href="(/static/css/site\.[0-9a-f]{12}\.css)"')
TEN_YEARS = 315360000


@pytest.fixture
def prod_web(tmp_path):
    static_root = tmp_path / "static"
    env = dict(
        os.environ,
        ENV_NAME="prod",
        SECRET_KEY="s" * 50,
        ALLOWED_HOSTS="127.0.0.1",
        CONTACT_RECIPIENTS="a@b.c",
        PHOTO_STORAGE="local",
        SECURE_COOKIES="false",
        STATIC_ROOT=str(static_root),
        DJANGO_SETTINGS_MODULE="backend.settings",
    )
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--no-input", "-v0"],
        cwd=ROOT,
        env=env,
        check=True,
    )
    server = WebServer(tmp_path / "uvicorn.log", env)
    yield server, static_root
    server.stop()
    sys.stderr.write(f"\n--- uvicorn.log ---\n{server.log()[-4000:]}\n")


def test_pages_link_hashed_css_served_compressed_with_far_future_caching(prod_web):
    web, static_root = prod_web
    page = requests.get(f"{web.url}/accounts/login/", timeout=10)
    assert page.status_code == 200
    [css_url] = HASHED_CSS.findall(page.text)
    collected = (static_root / css_url.removeprefix("/static/")).read_bytes()

    gzipped = requests.get(f"{web.url}{css_url}", headers={"Accept-Encoding": "gzip"}, timeout=10)
    assert gzipped.status_code == 200
    assert gzipped.headers["Content-Encoding"] == "gzip"
    assert gzipped.headers["Content-Type"].startswith("text/css")
    assert "Accept-Encoding" in gzipped.headers["Vary"]
    assert int(gzipped.headers["Content-Length"]) < len(collected)
    assert gzipped.content == collected  # requests has decompressed it
    cache_control = gzipped.headers["Cache-Control"]
    assert f"max-age={TEN_YEARS}" in cache_control
    assert "immutable" in cache_control

    plain = requests.get(f"{web.url}{css_url}", headers={"Accept-Encoding": "identity"}, timeout=10)
    assert "Content-Encoding" not in plain.headers
    assert plain.content == collected

    # The unhashed name may change under the same URL, so it is not cached for ever.
    unhashed = requests.get(f"{web.url}/static/css/site.css", timeout=10)
    assert unhashed.status_code == 200
    assert "immutable" not in unhashed.headers["Cache-Control"]
