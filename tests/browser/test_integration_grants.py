"""The integrations page's accounts panel: connect my own account (for=me), whose grants exist, the policy, and
disconnecting mine. The served app's only integration is demo (no OAuth), so the first test drives the real server
and the second serves OAuth answers by intercepting the page's requests, with bodies built by the API's schema."""

from __future__ import annotations

import json
from typing import Any

import pytest
from served import Served

from dexa.api.schemas.grants import GrantsPublic

pytestmark = pytest.mark.browser


def _grants(integration_id: str, policy: str, mine: bool) -> dict[str, Any]:
    grants: list[dict[str, Any]] = [{"owner": "org", "status": "connected", "scope": "calendar.events"}]
    if mine:
        grants.append({"owner": "user:u1", "status": "error", "last_error": "token revoked"})
    view = {"policy": policy, "grant_owner": "user:u1" if mine else "org", "grants": grants}
    return GrantsPublic.of(integration_id, view).model_dump()


def _demo_id(served: Served) -> str:
    return str(served.call("GET", "/integrations")["data"][0]["id"])


def test_the_panel_shows_the_real_servers_grants_and_its_refusal_of_an_own_account_for_demo(
    page: Any, served: Served
) -> None:
    iid = _demo_id(served)
    page.goto(served.url + "/ui/integrations")
    panel = page.locator(f"[data-integration-id='{iid}'] [data-grants]")
    panel.get_by_role("heading", name="Accounts").wait_for()
    assert "No account is connected." in panel.inner_text()
    assert "Your sessions use the organisation’s account." in panel.inner_text()
    assert panel.get_by_label("Whose account sessions use (admins)").input_value() == "user_first"
    with page.expect_request(f"**/integrations/{iid}/oauth/start?for=me"):
        panel.get_by_role("button", name="Connect my own account", exact=True).click()
    # demo signs in with the org's credentials: the server says so, and the page passes that on.
    page.get_by_text("only OAuth integrations have own grants").wait_for()


def test_connect_my_own_account_starts_oauth_for_me_and_the_panel_shows_the_grants(page: Any, served: Served) -> None:
    iid = _demo_id(served)
    state = {"policy": "user_first", "mine": True}
    calls: list[tuple[str, str, str | None]] = []

    def grants(route: Any) -> None:
        req = route.request
        calls.append((req.method, req.url, req.post_data))
        if req.method == "PUT":
            state["policy"] = json.loads(req.post_data)["policy"]
        if req.method == "DELETE":
            state["mine"] = False
            route.fulfill(status=204)
            return
        body = _grants(iid, str(state["policy"]), bool(state["mine"]))
        route.fulfill(status=200, content_type="application/json", body=json.dumps(body))

    def start(route: Any) -> None:
        calls.append((route.request.method, route.request.url, None))
        back = f"{served.url}/ui/integrations?connected={iid}"
        route.fulfill(status=200, content_type="application/json", body=json.dumps({"authorize_url": back}))

    page.route(f"**/integrations/{iid}/grants**", grants)
    page.route(f"**/integrations/{iid}/oauth/start**", start)
    page.goto(served.url + "/ui/integrations")
    panel = page.locator(f"[data-integration-id='{iid}'] [data-grants]")
    panel.get_by_role("heading", name="Accounts").wait_for()
    assert "Your sessions use your own account." in panel.inner_text()
    assert "calendar.events" in panel.locator("[data-grant-owner=org]").inner_text()
    assert "token revoked" in panel.locator("[data-grant-owner='user:u1']").inner_text()
    assert panel.get_by_label("Whose account sessions use (admins)").input_value() == "user_first"

    # An admin changes the policy: the PUT carries it and the panel shows the server's answer.
    panel.get_by_label("Whose account sessions use (admins)").select_option("org_only")
    page.get_by_text("Grants policy saved").wait_for()
    assert (
        "PUT",
        f"{served.url}/integrations/{iid}/grants",
        json.dumps({"policy": "org_only"}, separators=(",", ":")),
    ) in calls
    assert panel.get_by_label("Whose account sessions use (admins)").input_value() == "org_only"

    # Connect my own account: oauth/start with for=me, then the browser follows authorize_url.
    with page.expect_navigation(url=f"**/ui/integrations?connected={iid}"):
        panel.get_by_role("button", name="Reconnect my own account").click()
    started = [u for m, u, _ in calls if "/oauth/start" in u]
    assert started == [f"{served.url}/integrations/{iid}/oauth/start?for=me"]

    # Disconnect mine: DELETE .../grants/me, then the panel offers to connect again.
    panel = page.locator(f"[data-integration-id='{iid}'] [data-grants]")
    page.once("dialog", lambda d: d.accept())
    panel.get_by_role("button", name="Disconnect mine").click()
    # Exact: "Reconnect my own account", there until the panel has reloaded, contains the name.
    panel.get_by_role("button", name="Connect my own account", exact=True).wait_for()
    assert ("DELETE", f"{served.url}/integrations/{iid}/grants/me", None) in calls
    assert panel.locator("[data-grant-owner='user:u1']").count() == 0
    assert "Your sessions use the organisation’s account." in panel.inner_text()
