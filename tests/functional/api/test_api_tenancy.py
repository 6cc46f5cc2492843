"""Every route, called by another org with org A's ids: 404 (never 403), never A's data, never a side effect."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any

import pytest
from api_harness import Api, MemoryRewinder, make_config_api, rule_check, wait_for
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from dexa.testing.fakes import RulePolicy
from dexa.testing.scripted import FunctionModel, text, tool_use

SECRET_PROMPT = "org-a-confidential-prompt"


def _ask_then_done(request: Any) -> Any:
    return text("done") if request.messages[-1].tool_results else tool_use("Append", {"path": "a.txt", "line": "1"})


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Any:
    tmp = tmp_path_factory.mktemp("tenancy")
    api = make_config_api(
        tmp,
        model=FunctionModel(_ask_then_done),
        policy=RulePolicy(ask={"Append"}),
        rewinder=MemoryRewinder(),
        permission_check=rule_check,
    )
    with TestClient(api.app) as client:
        sid = client.post("/sessions", json={"prompt": SECRET_PROMPT}, headers=api.h("a_member")).json()["id"]
        wait_for(
            lambda: (
                client.get(f"/sessions/{sid}/approvals", params={"status": "pending"}, headers=api.h()).json()["count"]
                == 1
            )
        )
        approval = client.get(f"/sessions/{sid}/approvals", headers=api.h()).json()["data"][0]["id"]
        ctx = api.app.state.dexa
        assert client.portal is not None
        out = client.portal.call(
            lambda: ctx.outputs.stage(  # type: ignore[union-attr]
                org_id="org_a", session_id=sid, kind="email", tool="send_email", arguments={"to": "a@example.com"}
            )
        )
        integ = client.post("/integrations", json={"kind": "calendar", "name": "a-cal"}, headers=api.h()).json()["id"]
        key = next(
            k["id"] for k in client.get("/keys", headers=api.h()).json()["data"] if k["user_id"] == "usr_a_reviewer"
        )
        schedule = client.post("/schedules", json={"cron": "0 9 * * *", "prompt": SECRET_PROMPT}, headers=api.h())
        start = client.post(f"/integrations/{integ}/oauth/start", headers=api.h()).json()["authorize_url"]
        template = client.post(
            "/task-templates", json={"name": "a", "prompt": SECRET_PROMPT, "run_as": "usr_a_member"}, headers=api.h()
        )
        ids = {
            "session_id": sid,
            "output_id": out.id,
            "integration_id": integ,
            "key_id": key,
            "approval_id": approval,
            "schedule_id": schedule.json()["id"],
            "link_token": ctx.links.token("org_a", out.id, "approve"),  # type: ignore[union-attr]
            "oauth_state": start.split("state=")[1].split("&")[0],
            "template_id": template.json()["id"],
            "grant_for": "org",
        }
        yield api, client, ids


# Path params name A's resources; bodies are valid so the request reaches the ownership check, not the validator.
BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/sessions"): {"title": "b's own"},
    ("POST", "/sessions/{session_id}/messages"): {"prompt": "hijack"},
    ("POST", "/sessions/{session_id}/approve"): {"approval_id": "{approval_id}", "decision": "once"},
    ("POST", "/sessions/{session_id}/mode"): {"mode": "bypassPermissions"},
    ("POST", "/sessions/{session_id}/rewind"): {"checkpoint_id": "cp_1"},
    ("POST", "/sessions/{session_id}/fork"): {},
    ("POST", "/sessions/{session_id}/abort"): {},
    ("POST", "/sessions/{session_id}/commands"): {"command": "/review hijack"},
    ("POST", "/sessions/{session_id}/compact"): {},
    ("POST", "/sessions/{session_id}/model"): {"model": "haiku"},
    ("POST", "/sessions/{session_id}/mcp"): {"name": "b-srv", "config": {"type": "http", "url": "https://b.test/mcp"}},
    ("POST", "/sessions/{session_id}/mcp/{name}/auth"): {},
    ("POST", "/sessions/{session_id}/summarize"): {},
    ("POST", "/sessions/{session_id}/shares"): {},
    ("POST", "/sessions/{session_id}/terminal/tickets"): {},
    ("POST", "/sessions/{session_id}/export-token"): {},
    # A well-formed document of B's own: the import must land in B's org and show nothing of A's.
    ("POST", "/sessions/import"): {
        "format": "dexa.session/1",
        "session": {"title": "b's own"},
        "workspace": {"kind": "tree", "files": {}},
    },
    ("POST", "/sessions/{session_id}/pending-outputs/{output_id}/approve"): {},
    ("POST", "/sessions/{session_id}/pending-outputs/{output_id}/reject"): {"reason": "no"},
    ("POST", "/integrations"): {"kind": "crm", "name": "b-crm"},
    ("POST", "/permissions/check"): {"tool": "Bash", "input": {"command": "ls"}},
    ("POST", "/users"): {"name": "b-new", "role": "member"},
    ("POST", "/keys"): {"user_id": "usr_a_member", "name": "steal"},
    ("POST", "/integrations/{integration_id}/oauth/start"): {},
    ("PUT", "/integrations/{integration_id}/policy"): {"reads": "deny", "tools": {"x": "direct"}},
    ("PUT", "/integrations/{integration_id}/grants"): {"policy": "org_only"},
    ("POST", "/approval-links/peek"): {"token": "{link_token}"},
    ("POST", "/approval-links/redeem"): {"token": "{link_token}"},
    ("POST", "/schedules"): {"cron": "* * * * *", "prompt": "b's own"},
    ("PATCH", "/schedules/{schedule_id}"): {"enabled": False},
    ("PUT", "/triggers/github"): {"run_as": "usr_a_member", "repos": ["octo/b-repo"]},
    ("PUT", "/slack-users"): {"slack_user": "U0BUSER", "user_id": "usr_a_member"},
    ("PUT", "/review-channels"): {"slack_team": "T0BTEAM", "emails": ["b@example.org"]},
    ("PUT", "/triggers/email"): {"address": "b@in.dexa.test", "unknown_sender": "usr_a_member"},
    ("PUT", "/triggers/slack"): {"unknown_user": "usr_a_member"},
    ("POST", "/task-templates"): {"name": "b-template", "prompt": "b's own", "run_as": "usr_a_member"},
    ("PUT", "/task-templates/{template_id}"): {"name": "b-template", "prompt": "b's own", "run_as": "usr_b_member"},
    ("PUT", "/settings/permissions"): {"permissions": {"deny": ["WebFetch"]}},
    ("PUT", "/output-policies"): {"default": "deny"},
    ("PUT", "/memory"): {"path": "b-notes.md", "content": "b's own"},
    ("PUT", "/integrations/mcp-allowlist"): {"patterns": ["https://mcp.b.example/*"]},
}
QUERIES: dict[tuple[str, str], dict[str, str]] = {
    ("GET", "/oauth/callback"): {"state": "{oauth_state}", "code": "stolen"},
    ("GET", "/sessions/{session_id}/files/content"): {"path": "a.txt"},
    ("GET", "/sessions/{session_id}/files/search"): {"pattern": "1"},
}
# Routes without an org resource in the path: B gets its own (empty or B-only) view, never A's.
COLLECTIONS = {
    ("GET", "/health"),
    ("GET", "/me"),
    ("GET", "/sessions"),
    ("POST", "/sessions"),
    ("POST", "/sessions/import"),
    ("GET", "/integrations"),
    ("POST", "/integrations"),
    ("GET", "/integrations/mcp-allowlist"),
    ("PUT", "/integrations/mcp-allowlist"),
    ("POST", "/permissions/check"),
    ("GET", "/audit"),
    ("GET", "/users"),
    ("POST", "/users"),
    ("GET", "/keys"),
    ("GET", "/outputs"),
    ("GET", "/settings/permissions"),
    ("PUT", "/settings/permissions"),
    ("GET", "/output-policies"),
    ("PUT", "/output-policies"),
    ("GET", "/memory"),
    ("PUT", "/memory"),
    ("GET", "/agents"),
    ("GET", "/skills"),
    ("GET", "/plugins"),
    ("GET", "/marketplaces"),
    ("GET", "/schedules"),
    ("POST", "/schedules"),
    ("GET", "/review-channels"),
    ("PUT", "/review-channels"),
    ("GET", "/triggers/email"),
    ("GET", "/task-templates"),
}
# A's resource named in the body or query (not the path) must still be invisible to B.
BODY_REFERENCES = {
    ("POST", "/keys"),
    ("POST", "/approval-links/peek"),
    ("POST", "/approval-links/redeem"),
    ("GET", "/oauth/callback"),
    ("PUT", "/triggers/github"),
    ("PUT", "/slack-users"),
    ("PUT", "/triggers/email"),
    ("PUT", "/triggers/slack"),
    ("POST", "/task-templates"),
}


def _routes(api: Api) -> list[tuple[str, str]]:
    """Every operation, from the app's own OpenAPI document (the contract clients see)."""
    doc = api.app.openapi()
    return sorted((m.upper(), p) for p, item in doc["paths"].items() for m in item)


def _router_routes() -> set[tuple[str, str]]:
    """Every route the API's routers define, including any a developer hid from the schema."""
    from dexa.api.routers import (
        admin,
        approvals,
        catalog,
        config,
        events,
        files,
        integrations,
        outputs,
        rewind,
        session_actions,
        session_catalog,
        session_commands,
        session_mcp,
        sessions,
        shares,
        terminal,
        transfer,
        triggers,
    )

    out: set[tuple[str, str]] = set()
    modules = (
        admin,
        approvals,
        catalog,
        config,
        events,
        integrations,
        outputs,
        rewind,
        session_commands,
        sessions,
        session_actions,
        triggers,
        files,
        session_catalog,
        session_mcp,
        shares,
        terminal,
        transfer,
    )
    routers = [m.router for m in modules]
    for router in [*routers, integrations.callback_router, shares.public_router]:
        for route in router.routes:
            if isinstance(route, APIRoute):
                out.update((m, route.path) for m in route.methods or ())
    return out


_TMPDIR = tempfile.TemporaryDirectory(prefix="dexa-tenancy-")
ALL_ROUTES = _routes(make_config_api(Path(_TMPDIR.name), rewinder=MemoryRewinder()))


def test_every_route_is_covered_by_the_cross_tenant_cases() -> None:
    assert set(ALL_ROUTES) == _router_routes(), "a route is missing from the OpenAPI document"
    path_routes = {r for r in ALL_ROUTES if "{" in r[1]}
    assert set(ALL_ROUTES) == path_routes | COLLECTIONS | BODY_REFERENCES
    needs_body = {(m, p) for m, p in ALL_ROUTES if m in ("POST", "PUT")}
    assert needs_body <= set(BODIES), f"no valid body for {sorted(needs_body - set(BODIES))}"


def _fill(value: Any, ids: dict[str, str]) -> Any:
    if isinstance(value, str):
        for k, v in ids.items():
            value = value.replace("{" + k + "}", v)
        return value
    if isinstance(value, dict):
        return {k: _fill(v, ids) for k, v in value.items()}
    return value


@pytest.mark.parametrize(("method", "path"), ALL_ROUTES, ids=[f"{m} {p}" for m, p in ALL_ROUTES])
def test_another_orgs_ids_answer_404_and_leak_nothing(world: Any, method: str, path: str) -> None:
    api, client, ids = world
    url = _fill(path, ids)
    body = _fill(BODIES.get((method, path)), ids)
    query = _fill(QUERIES.get((method, path)), ids)
    resp = client.request(method, url, json=body, params=query, headers=api.h("b_admin"))
    text_ = resp.text
    inputs = [*(body or {}).values(), *(query or {}).values()]
    for echoed in [*url.split("/"), *(str(v) for v in inputs)]:  # the caller's own input
        if echoed:
            text_ = text_.replace(echoed, "")
    for secret in (SECRET_PROMPT, "a@example.com", "a-cal", "usr_a_"):
        assert secret not in text_, f"{method} {path} leaked {secret!r}: {text_[:300]}"
    if (method, path) in COLLECTIONS:
        assert resp.status_code < 400, resp.text
        assert ids["session_id"] not in text_ and ids["integration_id"] not in text_ and ids["key_id"] not in text_
    else:
        assert resp.status_code == 404, f"{method} {path} -> {resp.status_code} {text_[:300]}"
        assert resp.headers["content-type"].startswith("application/problem+json")
        assert resp.json()["code"] in ("not_found", "checkpoint_not_found")


def test_cross_tenant_calls_changed_nothing_in_org_a(world: Any) -> None:
    api, client, ids = world
    for method, path in ALL_ROUTES:
        client.request(
            method,
            _fill(path, ids),
            json=_fill(BODIES.get((method, path)), ids),
            params=_fill(QUERIES.get((method, path)), ids),
            headers=api.h("b_admin"),
        )
    h = api.h()
    session = client.get(f"/sessions/{ids['session_id']}", headers=h).json()
    assert session["permission_mode"] == "default" and session["status"] == "waiting"
    assert (
        client.get(f"/sessions/{ids['session_id']}/approvals", params={"status": "pending"}, headers=h).json()["count"]
        == 1
    )
    outputs = client.get(f"/sessions/{ids['session_id']}/pending-outputs", headers=h).json()["data"]
    assert [o["status"] for o in outputs] == ["pending"]
    assert client.get(f"/integrations/{ids['integration_id']}/status", headers=h).status_code == 200
    policy = client.get(f"/integrations/{ids['integration_id']}/policy", headers=h).json()
    assert (policy["reads"], policy["tools"]) == (None, {})
    keys = {k["id"]: k for k in client.get("/keys", headers=h).json()["data"]}
    assert keys[ids["key_id"]]["revoked_at"] is None
    assert not any(e["actor"].startswith("usr_b") for e in client.get("/audit", headers=h).json()["data"])
    assert asyncio.run(api.runtime.store.list_sessions(org_id="org_a")).__len__() == 1
    assert [s["id"] for s in client.get("/schedules", headers=h).json()["data"]] == [ids["schedule_id"]]
    assert client.get("/output-policies", headers=h).json()["default"] is None
    (template,) = client.get("/task-templates", headers=h).json()["data"]
    assert template["id"] == ids["template_id"] and template["prompt"] == SECRET_PROMPT
    assert ids["oauth_state"] in api.app.state.dexa.oauth.pending  # B's callback did not spend A's sign-in
    assert api.app.state.dexa.links.peek(ids["link_token"]).output_id == ids["output_id"]
