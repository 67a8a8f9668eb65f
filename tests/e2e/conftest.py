"""Fixtures for end-to-end tests: uvicorn, Debian's Chromium, screenshots of failures."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.conftest import ROOT
from tests.live.server import WebServer, web_env

ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
_CALL_REPORT = pytest.StashKey[pytest.TestReport]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.when == "call":
        item.stash[_CALL_REPORT] = report
    return report


@pytest.fixture
def web(transactional_db: None, media_root: Path, tmp_path: Path) -> Iterator[WebServer]:
    server = WebServer(tmp_path / "uvicorn.log", web_env(media_root))
    yield server
    server.stop()
    sys.stderr.write(f"\n--- uvicorn.log ---\n{server.log()[-6000:]}\n")


@pytest.fixture
def browser(web: WebServer) -> Iterator[Browser]:
    """Chromium, started after (and so stopped before) the database fixtures.

    Playwright's sync API keeps an event loop running in this thread, where
    Django refuses ORM calls; so tests talk to the system only through it.
    """
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: `python3 dev.py test` installs Debian's chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A fresh browser context's page; saved to test-artifacts/ when the test fails."""
    context = browser.new_context(viewport={"width": 1000, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()
    yield page
    report = request.node.stash.get(_CALL_REPORT, None)
    if report is None or report.failed:
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / f"{request.node.name}-failure.png"
        page.screenshot(path=str(path), full_page=True)
        sys.stderr.write(f"\nscreenshot of the failure: {path}\n")
    context.close()
