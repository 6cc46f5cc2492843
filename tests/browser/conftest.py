"""Playwright on Debian's chromium against `dexa serve` (tests/browser/served.py). Skips (with the reason) when
chromium is absent."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from scenarios import STAGE, script
from served import Served

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
# The user's own rules, as a person who runs Dexa keeps them in ~/.claude/settings.json: edits and the demo
# calendar's invites go ahead (an invite is still staged for review), Bash asks.
USER_RULES = {"permissions": {"allow": ["Write", "Edit", "TodoWrite", STAGE], "ask": ["Bash"]}}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if CHROMIUM.exists():
        return
    skip = pytest.mark.skip(reason=f"{CHROMIUM} is absent: install Debian's chromium (apt-get install -y chromium)")
    for item in items:
        if item.get_closest_marker("browser") is not None:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One `dexa serve` for the modules whose scenarios share it (scenarios.py), with the demo company connected."""
    tmp = tmp_path_factory.mktemp("web")
    (tmp / "home" / ".claude").mkdir(parents=True)
    (tmp / "home" / ".claude" / "settings.json").write_text(json.dumps(USER_RULES))
    s = Served(tmp, script((tmp / "ws").resolve()), setup=[["integrations", "add", "demo"]])
    yield s
    s.stop()


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


@pytest.fixture(scope="module")
def signed_in(browser_context: Any, served: Served) -> Any:
    pg = browser_context.new_page()
    served.sign_in(pg)
    pg.close()
    return browser_context


@pytest.fixture
def page(signed_in: Any) -> Iterator[Any]:
    pg = signed_in.new_page()
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
