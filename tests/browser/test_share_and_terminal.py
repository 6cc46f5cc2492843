"""The run view's Share and Terminal panels on a real `dexa serve`.

Share: a link made in the panel opens in a browser that never signed in (its own Chromium, no cookie, no key), shows
in the panel's list, and once revoked there answers 404. Terminal: the panel spends a ticket, opens the WebSocket,
and a command typed in it runs in the session's sandboxed shell; `exit` ends it.
"""

from __future__ import annotations

import threading
from typing import Any

import httpx
import pytest
from served import Served

from conftest import ARGS, CHROMIUM

pytestmark = pytest.mark.browser


def _open_in_a_fresh_browser(link: str) -> tuple[int, str, str]:
    """Status, <h1> and body text of `link` in a browser of its own. Its own thread: Playwright's sync API is already
    running in this one (the signed-in context)."""
    out: dict[str, Any] = {}

    def run() -> None:
        from playwright.sync_api import sync_playwright

        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
                context = browser.new_context()
                assert context.cookies() == []
                page = context.new_page()
                res = page.goto(link)
                out["result"] = (res.status if res else 0, page.locator("h1").inner_text(), page.inner_text("body"))
                browser.close()
        except BaseException as exc:  # handed to the test's thread
            out["error"] = exc

    t = threading.Thread(target=run)
    t.start()
    t.join(120)
    if "error" in out:
        raise out["error"]
    return out["result"]


def test_a_share_link_opens_without_a_key_and_is_revoked_from_the_panel(page: Any, served: Served) -> None:
    sid = served.call("POST", "/sessions", {"title": "shared from the run view"})["id"]
    page.goto(f"{served.url}/ui/sessions/{sid}")
    panel = page.get_by_role("region", name="Share", exact=True)
    panel.get_by_text("No links yet.").wait_for()
    panel.get_by_label("Expires after").select_option(label="1 day")
    panel.get_by_role("button", name="Share", exact=True).click()
    link = panel.locator("[data-share-link]").inner_text()
    assert link.startswith(f"{served.url}/shared/") and link.endswith("/view"), link
    assert panel.get_by_role("button", name="Copy link").is_visible()
    rows = panel.locator("[data-share-status]")
    rows.first.wait_for()
    assert rows.count() == 1 and rows.first.get_attribute("data-share-status") == "active"

    status, title, body = _open_in_a_fresh_browser(link)
    assert status == 200 and title == "shared from the run view" and "Read-only" in body

    [share] = served.call("GET", f"/sessions/{sid}/shares")["data"]
    assert 86_000 < share["expires_at"] - share["created_at"] <= 86_400
    panel.get_by_role("button", name=f"Revoke link {share['id']}").click()
    page.locator(f"[data-share-id='{share['id']}'][data-share-status='revoked']").wait_for()
    assert httpx.get(link, timeout=30).status_code == 404


def test_the_terminal_panel_runs_a_command_in_the_sessions_shell(page: Any, served: Served) -> None:
    sid = served.call("POST", "/sessions", {"title": "a terminal"})["id"]
    page.goto(f"{served.url}/ui/sessions/{sid}")
    panel = page.get_by_role("region", name="Terminal")
    panel.get_by_role("button", name="Open terminal").click()
    line = panel.get_by_label("Terminal input")
    page.wait_for_function("() => document.querySelector('[data-terminal-log]') !== null")
    panel.get_by_role("status").get_by_text("Connected").wait_for(timeout=30_000)
    line.fill("echo dexa-$((6*7)) in $PWD")
    line.press("Enter")
    log = panel.locator("[data-terminal-log]")
    # The arithmetic is the shell's: the typed line (echoed by the pty) does not contain the answer.
    page.wait_for_function(
        "() => document.querySelector('[data-terminal-log]').textContent.includes('dexa-42 in ')", timeout=30_000
    )
    text = log.inner_text()
    assert f"\ndexa-42 in {served.ws.resolve()}\n" in text, text  # the session's workspace, one clean line
    assert "\x1b" not in text  # escape sequences are not shown as text
    line.fill("exit 3")
    line.press("Enter")
    page.wait_for_function(
        "() => document.querySelector('[data-terminal-log]').textContent.includes('[exited with code 3]')",
        timeout=30_000,
    )
    panel.get_by_role("status").get_by_text("Closed").wait_for()
    assert panel.get_by_role("button", name="Open terminal").is_enabled()
