"""Playwright on Debian's chromium against a live Dexa server. Skips (with the reason) when chromium is absent."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from web_harness import Live, start_server

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SHOTS = Path(os.environ.get("DEXA_SCREENSHOTS", tempfile.gettempdir())) / "dexa-ui-screenshots"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if CHROMIUM.exists():
        return
    skip = pytest.mark.skip(reason=f"{CHROMIUM} is absent: install Debian's chromium (apt-get install -y chromium)")
    for item in items:
        if item.get_closest_marker("browser") is not None:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    server, stop = start_server(tmp_path_factory.mktemp("web"))
    yield server
    stop()


# Module scope on purpose: while Playwright's sync API is open it owns a running event loop in the main thread, so
# every later test that calls asyncio.run (most of the suite) would fail if the browser lived for the session.
@pytest.fixture(scope="module")
def browser_context(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=str(CHROMIUM),
            headless=True,
            args=ARGS,
            viewport={"width": 1280, "height": 860},
            reduced_motion="reduce",
        )
        ctx.set_default_timeout(10_000)
        yield ctx
        ctx.close()


@pytest.fixture
def page(browser_context: Any, live: Live) -> Iterator[Any]:
    pg = browser_context.new_page()
    # Sign in the way a user does: the one-time link `dexa serve` prints (a no-op when already signed in).
    pg.goto(live.handoff_url())
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    pg.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    pg.errors = errors
    yield pg
    pg.close()
    # A script error or a failed request logged to the console fails the test that caused it.
    # (The browser also logs every 4xx answer; those are expected here: probes of optional endpoints, 409s.)
    real = [e for e in errors if "Failed to load resource" not in e]
    assert not real, f"browser console errors: {real}"


@pytest.fixture(scope="session")
def shots() -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    return SHOTS
