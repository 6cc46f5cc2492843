"""Configuration and review endpoints over HTTP: the org-wide output queue, approval links, the side-effect ledger,
OAuth sign-in, settings permissions, the output policy, memory, extension listings and schedules."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from api_harness import Api, make_api, make_config_api
from fastapi.testclient import TestClient

from dexa.checkpoints import record_side_effect
from dexa.client import DexaClient
from dexa.core.errors import ConfigError


def _portal(client: TestClient) -> Any:
    assert client.portal is not None, "use the client inside `with TestClient(...)`"
    return client.portal


@pytest.fixture
def capi(tmp_path: Path) -> Api:
    return make_config_api(tmp_path)


@pytest.fixture
def cc(capi: Api) -> Iterator[TestClient]:
    with TestClient(capi.app) as c:
        yield c


def _session(capi: Api, client: TestClient, org: str = "a") -> str:
    rt = capi.runtime
    ws = Path(capi.app.state.dexa.default_cwd)
    ws.mkdir(parents=True, exist_ok=True)
    session = _portal(client).call(
        lambda: rt.create_session(cwd=str(ws), org_id=f"org_{org}", user_id=f"usr_{org}_admin")
    )
    return session.id


def _stage(capi: Api, client: TestClient, sid: str, org: str = "a", to: str = "x@example.com") -> Any:
    outputs = capi.app.state.dexa.outputs
    return _portal(client).call(
        lambda: outputs.stage(
            org_id=f"org_{org}", session_id=sid, kind="email", tool="send_email", arguments={"to": to}
        )
    )


def _problem(resp: Any, status: int) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    return resp.json()


def _audit_actions(capi: Api, client: TestClient) -> list[str]:
    return [e["action"] for e in client.get("/audit", headers=capi.h()).json()["data"]]


# ------------------------------------------------------------------ outputs and links


def test_the_review_queue_lists_outputs_across_sessions_filtered_by_status(capi: Api, cc: TestClient) -> None:
    s1, s2 = _session(capi, cc), _session(capi, cc)
    first = _stage(capi, cc, s1)
    _stage(capi, cc, s2)
    _stage(capi, cc, _session(capi, cc, "b"), org="b", to="b@example.com")
    cc.post(f"/sessions/{s1}/pending-outputs/{first.id}/reject", json={"reason": "no"}, headers=capi.h("a_reviewer"))
    every = cc.get("/outputs", headers=capi.h("a_reviewer")).json()
    assert every["count"] == 2 and {o["session_id"] for o in every["data"]} == {s1, s2}
    pending = cc.get("/outputs", params={"status": "pending"}, headers=capi.h("a_reviewer")).json()
    assert [o["session_id"] for o in pending["data"]] == [s2]
    assert "b@example.com" not in cc.get("/outputs", headers=capi.h()).text
    bad = _problem(cc.get("/outputs", params={"status": "maybe"}, headers=capi.h()), 422)
    assert "status" in bad["detail"]


def test_an_approval_link_is_peeked_without_spending_then_redeemed_once(capi: Api, cc: TestClient) -> None:
    sid = _session(capi, cc)
    out = _stage(capi, cc, sid)
    token = capi.app.state.dexa.links.token("org_a", out.id, "approve")
    peek = cc.post("/approval-links/peek", json={"token": token}, headers=capi.h("a_reviewer")).json()
    assert peek["action"] == "approve" and peek["output"]["id"] == out.id and peek["output"]["status"] == "pending"
    done = cc.post("/approval-links/redeem", json={"token": token}, headers=capi.h("a_reviewer"))
    assert done.status_code == 200, done.text
    assert done.json()["output"]["status"] in ("executed", "approved")
    assert done.json()["output"]["decided_by"] == "usr_a_reviewer"
    assert _problem(cc.post("/approval-links/redeem", json={"token": token}, headers=capi.h()), 409)
    assert "output.approve" in _audit_actions(capi, cc)


def test_a_tampered_or_foreign_link_is_refused(capi: Api, cc: TestClient) -> None:
    out = _stage(capi, cc, _session(capi, cc))
    links = capi.app.state.dexa.links
    token = links.token("org_a", out.id, "reject")
    body, sig = token.split(".")
    assert _problem(cc.post("/approval-links/peek", json={"token": f"{body}.{sig[:-2]}AA"}, headers=capi.h()), 403)
    assert _problem(cc.post("/approval-links/redeem", json={"token": token}, headers=capi.h("b_admin")), 404)
    assert (
        "token" in _problem(cc.post("/approval-links/peek", json={"token": "no dots"}, headers=capi.h()), 422)["detail"]
    )
    # The member role has outputs:write too; a key without sessions:read cannot even peek.
    review = links.token("org_a", out.id, "review")
    assert _problem(cc.post("/approval-links/redeem", json={"token": review}, headers=capi.h()), 403)


def test_links_answer_501_when_the_server_has_no_link_secret(tmp_path: Path) -> None:
    api = make_api(tmp_path)
    with TestClient(api.app) as c:
        assert _problem(c.post("/approval-links/peek", json={"token": "a.b"}, headers=api.h()), 501)["code"] == (
            "not_implemented"
        )


# ------------------------------------------------------------------ side-effect ledger


def test_the_side_effect_ledger_of_a_session_is_listed_oldest_first(capi: Api, cc: TestClient) -> None:
    sid = _session(capi, cc)
    store = capi.runtime.store
    _portal(cc).call(lambda: record_side_effect(store, sid, kind="email_sent", summary="Mailed bob"))
    _portal(cc).call(
        lambda: record_side_effect(
            store, sid, kind="pr_created", summary="Opened PR #4", compensation={"action": "close_pr", "args": {"n": 4}}
        )
    )
    body = cc.get(f"/sessions/{sid}/side-effects", headers=capi.h("a_reviewer")).json()
    assert [(e["kind"], e["reversible"]) for e in body["data"]] == [("email_sent", False), ("pr_created", True)]
    assert body["data"][1]["compensation"] == {"action": "close_pr", "args": {"n": 4}}
    assert _problem(cc.get(f"/sessions/{sid}/side-effects", headers=capi.h("b_admin")), 404)["code"] == "not_found"


# ------------------------------------------------------------------ OAuth


def test_oauth_start_returns_an_authorize_url_and_the_callback_completes_it(capi: Api, cc: TestClient) -> None:
    integ = cc.post("/integrations", json={"kind": "calendar", "name": "cal"}, headers=capi.h()).json()["id"]
    start = cc.post(f"/integrations/{integ}/oauth/start", headers=capi.h())
    assert start.status_code == 200, start.text
    url = start.json()["authorize_url"]
    state = url.split("state=")[1].split("&")[0]
    assert _problem(cc.get("/oauth/callback", params={"state": state, "code": "c"}, headers=capi.h("b_admin")), 404)
    done = cc.get("/oauth/callback", params={"state": state, "code": "c"}, headers=capi.h())
    assert done.status_code == 200 and done.json()["id"] == integ
    assert _problem(cc.get("/oauth/callback", params={"state": state, "code": "c"}, headers=capi.h()), 404)
    assert "code" in _problem(cc.get("/oauth/callback", params={"state": state}, headers=capi.h()), 422)["detail"]
    # A member may connect their own account, never the org's shared grant.
    assert _problem(cc.post(f"/integrations/{integ}/oauth/start?for=org", headers=capi.h("a_member")), 403)
    mine = cc.post(f"/integrations/{integ}/oauth/start", headers=capi.h("a_member"))
    assert mine.status_code == 200, mine.text
    assert _problem(cc.post(f"/integrations/{integ}/oauth/start", headers=capi.h("b_admin")), 404)
    assert {"integration.oauth.start", "integration.oauth.connect"} <= set(_audit_actions(capi, cc))
    status = cc.get(f"/integrations/{integ}/status", headers=capi.h()).json()
    assert "last_sync" in status


def test_oauth_answers_501_without_a_connector_but_404_for_another_orgs_integration(tmp_path: Path) -> None:
    api = make_api(tmp_path)
    with TestClient(api.app) as c:
        integ = c.post("/integrations", json={"kind": "calendar", "name": "cal"}, headers=api.h()).json()["id"]
        assert _problem(c.post(f"/integrations/{integ}/oauth/start", headers=api.h()), 501)
        assert _problem(c.post(f"/integrations/{integ}/oauth/start", headers=api.h("b_admin")), 404)


# ------------------------------------------------------------------ settings permissions


def test_permission_settings_are_written_to_the_project_file_and_read_back_merged(capi: Api, cc: TestClient) -> None:
    ws = Path(capi.app.state.dexa.default_cwd)
    (ws / ".claude").mkdir(parents=True)
    (ws / ".claude" / "settings.json").write_text(json.dumps({"model": "keep-me", "permissions": {"deny": ["Bash"]}}))
    body = {"permissions": {"allow": ["Bash(git status:*)"], "deny": ["Read(./.env)"], "defaultMode": "acceptEdits"}}
    resp = cc.put("/settings/permissions", json=body, headers=capi.h())
    assert resp.status_code == 200, resp.text
    written = json.loads((ws / ".claude" / "settings.json").read_text())
    assert written["model"] == "keep-me" and written["permissions"]["allow"] == ["Bash(git status:*)"]
    view = cc.get("/settings/permissions", headers=capi.h("a_reviewer")).json()
    assert view["effective"]["allow"] == ["Bash(git status:*)"] and view["effective"]["default_mode"] == "acceptEdits"
    assert next(f for f in view["files"] if f["scope"] == "project")["permissions"]["deny"] == ["Read(./.env)"]
    local = cc.put(
        "/settings/permissions", json={"scope": "local", "permissions": {"ask": ["Write"]}}, headers=capi.h()
    )
    assert local.status_code == 200 and (ws / ".claude" / "settings.local.json").is_file()
    assert "settings.permissions.update" in _audit_actions(capi, cc)


def test_malformed_permissions_are_refused_naming_the_key(capi: Api, cc: TestClient) -> None:
    bad_rule = cc.put("/settings/permissions", json={"permissions": {"allow": ["Bash(unclosed"]}}, headers=capi.h())
    assert "permissions.allow[0]" in _problem(bad_rule, 422)["detail"]
    bad_mode = cc.put("/settings/permissions", json={"permissions": {"defaultMode": "yolo"}}, headers=capi.h())
    assert "defaultMode" in _problem(bad_mode, 422)["detail"]
    unknown = cc.put("/settings/permissions", json={"permissions": {"alow": []}}, headers=capi.h())
    assert "alow" in _problem(unknown, 422)["detail"]
    assert not (Path(capi.app.state.dexa.default_cwd) / ".claude" / "settings.json").exists()


def test_settings_are_admin_only_to_write_and_confined_to_the_orgs_workspaces(capi: Api, cc: TestClient) -> None:
    body = {"permissions": {"allow": ["Read"]}}
    assert _problem(cc.put("/settings/permissions", json=body, headers=capi.h("a_member")), 403)["code"] == "forbidden"
    assert _problem(cc.put("/settings/permissions", json=body, headers=capi.h("a_reviewer")), 403)
    assert _problem(cc.put("/settings/permissions", json={**body, "cwd": "/etc"}, headers=capi.h()), 404)
    assert _problem(cc.get("/settings/permissions", params={"cwd": "/"}, headers=capi.h()), 404)


def test_settings_routes_answer_501_without_a_config_home(client: TestClient, api: Api) -> None:
    for path in ("/settings/permissions", "/memory", "/agents", "/skills", "/plugins", "/marketplaces"):
        assert _problem(client.get(path, headers=api.h()), 501)["code"] == "not_implemented"


# ------------------------------------------------------------------ output policy


def test_the_output_policy_is_stored_for_the_org_and_validated(capi: Api, cc: TestClient) -> None:
    assert cc.get("/output-policies", headers=capi.h("a_reviewer")).json()["default"] is None
    policy = {"default": "stage", "output_types": {"email": "deny"}, "tools": {"crm/update": "auto"}}
    resp = cc.put("/output-policies", json=policy, headers=capi.h())
    assert resp.status_code == 200 and resp.json()["output_types"] == {"email": "deny"}
    stored = _portal(cc).call(lambda: capi.runtime.store.kv_get("output_policy", "org", org_id="org_a"))
    assert stored is not None and stored["tools"] == {"crm/update": "auto"}
    assert cc.get("/output-policies", headers=capi.h("b_admin")).json()["output_types"] == {}
    bad = _problem(cc.put("/output-policies", json={"output_types": {"email": "sometimes"}}, headers=capi.h()), 422)
    assert "output_types" in bad["detail"]
    assert _problem(cc.put("/output-policies", json=policy, headers=capi.h("a_member")), 403)
    assert "output_policy.update" in _audit_actions(capi, cc)


# ------------------------------------------------------------------ memory and listings


def test_memory_files_are_listed_and_one_is_edited(capi: Api, cc: TestClient) -> None:
    ws = Path(capi.app.state.dexa.default_cwd)
    ws.mkdir(parents=True, exist_ok=True)
    (ws / "CLAUDE.md").write_text("# Project\nUse tabs.\n")
    files = cc.get("/memory", headers=capi.h("a_reviewer")).json()["files"]
    mine = next(f for f in files if f["path"] == str(ws / "CLAUDE.md"))
    assert "Use tabs." in mine["content"] and mine["editable"]
    resp = cc.put("/memory", json={"path": "CLAUDE.md", "content": "# Project\nUse spaces.\n"}, headers=capi.h())
    assert resp.status_code == 200 and resp.json()["path"] == str(ws / "CLAUDE.md")
    assert "Use spaces." in (ws / "CLAUDE.md").read_text()
    outside = cc.put("/memory", json={"path": "/etc/passwd.md", "content": "x"}, headers=capi.h())
    assert "path" in _problem(outside, 400)["detail"]
    assert _problem(cc.put("/memory", json={"path": "notes.txt", "content": "x"}, headers=capi.h()), 400)
    assert "content" in _problem(cc.put("/memory", json={"path": "CLAUDE.md"}, headers=capi.h()), 422)["detail"]
    assert _problem(cc.put("/memory", json={"path": "CLAUDE.md", "content": "x"}, headers=capi.h("a_member")), 403)
    assert "memory.update" in _audit_actions(capi, cc)


def test_agents_skills_plugins_and_marketplaces_are_listed_from_the_workspace(capi: Api, cc: TestClient) -> None:
    ws = Path(capi.app.state.dexa.default_cwd)
    agents = ws / ".claude" / "agents"
    agents.mkdir(parents=True)
    (agents / "reviewer.md").write_text("---\nname: code-reviewer\ndescription: Reviews diffs\n---\nReview.\n")
    skill = ws / ".claude" / "skills" / "deploy"
    skill.mkdir(parents=True)
    (skill / "SKILL.md").write_text("---\nname: deploy\ndescription: Ship it\n---\nSteps.\n")
    names = [a["name"] for a in cc.get("/agents", headers=capi.h("a_reviewer")).json()["data"]]
    assert "code-reviewer" in names
    skills = cc.get("/skills", headers=capi.h()).json()["data"]
    assert any(s["name"] == "deploy" and s["description"] == "Ship it" for s in skills)
    assert cc.get("/plugins", headers=capi.h()).json() == {"data": [], "count": 0}
    assert cc.get("/marketplaces", headers=capi.h()).json()["count"] == 0
    assert _problem(cc.get("/agents", params={"cwd": "/usr"}, headers=capi.h()), 404)


# ------------------------------------------------------------------ schedules


def test_schedules_are_created_listed_and_deleted_per_org(capi: Api, cc: TestClient) -> None:
    body = {"cron": "0 9 * * 1-5", "prompt": "Summarise yesterday's PRs", "model": "sonnet"}
    created = cc.post("/schedules", json=body, headers=capi.h())
    assert created.status_code == 201, created.text
    sid = created.json()["id"]
    listed = cc.get("/schedules", headers=capi.h("a_reviewer")).json()
    assert listed["count"] == 1 and listed["data"][0]["cron"] == "0 9 * * 1-5" and listed["data"][0]["enabled"]
    assert cc.get("/schedules", headers=capi.h("b_admin")).json()["count"] == 0
    assert _problem(cc.delete(f"/schedules/{sid}", headers=capi.h("b_admin")), 404)
    assert _problem(cc.delete(f"/schedules/{sid}", headers=capi.h("a_member")), 403)
    assert cc.delete(f"/schedules/{sid}", headers=capi.h()).status_code == 204
    assert cc.get("/schedules", headers=capi.h()).json()["count"] == 0
    assert {"schedule.create", "schedule.delete"} <= set(_audit_actions(capi, cc))


@pytest.mark.parametrize("cron", ["0 9 * *", "61 * * * *", "* * * * mon", "*/0 * * * *", "5-1 * * * *"])
def test_a_bad_cron_expression_is_a_422_naming_the_field(capi: Api, cc: TestClient, cron: str) -> None:
    resp = cc.post("/schedules", json={"cron": cron, "prompt": "x"}, headers=capi.h())
    assert "cron" in _problem(resp, 422)["detail"]
    assert _problem(cc.post("/schedules", json={"cron": "* * * * *", "prompt": "x"}, headers=capi.h("a_member")), 403)


def test_a_browser_returning_from_sign_in_is_sent_back_to_the_integrations_page(capi: Api, cc: TestClient) -> None:
    integ = cc.post("/integrations", json={"kind": "calendar", "name": "cal"}, headers=capi.h()).json()["id"]
    url = cc.post(f"/integrations/{integ}/oauth/start", headers=capi.h()).json()["authorize_url"]
    state = url.split("state=")[1].split("&")[0]
    html = {**capi.h(), "Accept": "text/html"}
    bad = cc.get("/oauth/callback", params={"state": "nope", "code": "c"}, headers=html, follow_redirects=False)
    assert bad.status_code == 303 and "error=" in bad.headers["location"]
    ok = cc.get("/oauth/callback", params={"state": state, "code": "c"}, headers=html, follow_redirects=False)
    assert ok.status_code == 303 and ok.headers["location"] == f"/ui/integrations?connected={integ}"


def test_the_python_client_drives_the_config_operations(capi: Api) -> None:
    async def main() -> None:
        transport = httpx.ASGITransport(app=capi.app)
        async with DexaClient("http://dexa", capi.tokens["a_admin"], transport=transport) as client:
            made = await client.create_schedule("*/15 * * * *", "check the queue")
            assert [s.id for s in (await client.list_schedules()).data] == [made.id]
            await client.delete_schedule(made.id)
            policy = await client.put_output_policy({"default": "stage"})
            assert policy.default == "stage" and (await client.get_output_policy()).default == "stage"
            view = await client.put_permission_settings({"deny": ["WebFetch"]})
            assert view.effective.deny == ["WebFetch"]
            assert (await client.list_org_outputs(status="pending")).count == 0
            with pytest.raises(ConfigError, match="cron"):
                await client.create_schedule("every day", "x")

    asyncio.run(main())


def test_a_sessions_workspace_is_readable_by_its_org_only(capi: Api, cc: TestClient, tmp_path: Path) -> None:
    elsewhere = tmp_path / "other-repo"
    elsewhere.mkdir()
    (elsewhere / "CLAUDE.md").write_text("org a's private notes\n")
    rt = capi.runtime
    _portal(cc).call(lambda: rt.create_session(cwd=str(elsewhere), org_id="org_a", user_id="usr_a_admin"))
    mine = cc.get("/memory", params={"cwd": str(elsewhere)}, headers=capi.h("a_reviewer"))
    assert mine.status_code == 200 and "private notes" in mine.text
    theirs = cc.get("/memory", params={"cwd": str(elsewhere)}, headers=capi.h("b_admin"))
    assert _problem(theirs, 404)["code"] == "not_found" and "private notes" not in theirs.text
