"""The run view's "Continue locally" panel: it mints an export token on demand and shows the `dexa pull` command that
uses it; the token reads that session's export (tests/integration/transfer runs the command itself)."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from served import Served

pytestmark = pytest.mark.browser


def test_the_run_view_shows_a_copyable_pull_command_whose_token_exports_the_session(page: Any, served: Served) -> None:
    sid = served.call("POST", "/sessions", {"title": "to continue locally"})["id"]
    page.goto(f"{served.url}/ui/sessions/{sid}")
    panel = page.get_by_role("region", name="Continue locally")
    assert page.locator("[data-pull-command]").count() == 0  # nothing minted on page load
    panel.get_by_role("button", name="Continue locally").click()
    command = panel.locator("[data-pull-command]").inner_text()
    match = re.fullmatch(rf"dexa pull {sid} --server {re.escape(served.url)} --token (dxe1_\S+)", command)
    assert match, command
    assert panel.get_by_role("button", name="Copy").is_visible()
    res = httpx.get(f"{served.url}/sessions/{sid}/export", headers={"Authorization": f"Bearer {match[1]}"}, timeout=60)
    assert res.status_code == 200 and res.json()["session"]["id"] == sid
