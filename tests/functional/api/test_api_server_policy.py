"""Per-server and per-tool output policy for an org-added hosted server, over HTTP, and what the gate then decides."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from api_harness import Api, make_config_api
from fastapi.testclient import TestClient

from dexa.adapters.mcp.gate import McpCall, ToolHints
from dexa.integrations.outputs.gate import StagingGate


@pytest.fixture
def capi(tmp_path: Path) -> Api:
    return make_config_api(tmp_path)


@pytest.fixture
def cc(capi: Api) -> Iterator[TestClient]:
    with TestClient(capi.app) as c:
        yield c


def _decide(capi: Api, cc: TestClient, tool: str, *, read: bool) -> str:
    """What the staging gate of a session of org_a decides for a call to the hosted server `linear`."""
    hints = ToolHints(read_only=read, destructive=not read)
    call = McpCall(
        server="linear", tool=tool, exposed_name=f"mcp__linear__{tool}", arguments={}, hints=hints, scope="integration"
    )
    gate = StagingGate(kv=capi.runtime.store)
    assert cc.portal is not None
    decision = cc.portal.call(lambda: gate.decision(call, kv=capi.runtime.store, org_id="org_a", session_id="s"))
    return decision.decision


def _policy(cc: TestClient, capi: Api, integ: str, body: dict[str, Any] | None = None, user: str = "a_admin") -> Any:
    if body is None:
        return cc.get(f"/integrations/{integ}/policy", headers=capi.h(user))
    return cc.put(f"/integrations/{integ}/policy", json=body, headers=capi.h(user))


def test_an_admin_sets_reads_writes_and_one_tool_of_a_hosted_server_and_the_gate_follows(
    capi: Api, cc: TestClient
) -> None:
    integ = cc.post("/integrations", json={"kind": "mcp", "name": "linear"}, headers=capi.h()).json()["id"]
    fresh = _policy(cc, capi, integ).json()
    assert fresh == {"integration_id": integ, "server": "linear", "reads": None, "writes": None, "tools": {}}
    # Built-in defaults: reads run, writes are staged.
    assert _decide(capi, cc, "list_issues", read=True) == "direct"
    assert _decide(capi, cc, "create_issue", read=False) == "stage"

    set_ = _policy(cc, capi, integ, {"reads": "stage", "tools": {"create_comment": "direct", "delete_issue": "deny"}})
    assert set_.status_code == 200, set_.text
    assert set_.json()["tools"] == {"create_comment": "direct", "delete_issue": "deny"}
    assert _decide(capi, cc, "list_issues", read=True) == "stage"
    assert _decide(capi, cc, "create_comment", read=False) == "direct"
    assert _decide(capi, cc, "delete_issue", read=False) == "deny"
    assert _decide(capi, cc, "create_issue", read=False) == "stage"

    # The org document shows the same rules; a later edit of one field keeps the others; null removes a rule.
    doc = cc.get("/output-policies", headers=capi.h()).json()
    assert doc["reads"] == {"linear": "stage"} and doc["tools"]["linear/delete_issue"] == "deny"
    again = _policy(cc, capi, integ, {"reads": None, "writes": "auto"}).json()
    assert again["reads"] is None and again["writes"] == "auto" and again["tools"]["delete_issue"] == "deny"
    assert _decide(capi, cc, "list_issues", read=True) == "direct"
    actions = [e["action"] for e in cc.get("/audit", headers=capi.h()).json()["data"]]
    assert actions.count("output_policy.update") == 2


def test_the_server_policy_route_refuses_bad_values_members_and_other_orgs(capi: Api, cc: TestClient) -> None:
    integ = cc.post("/integrations", json={"kind": "mcp", "name": "linear"}, headers=capi.h()).json()["id"]
    bad = _policy(cc, capi, integ, {"reads": "yolo"})
    assert bad.status_code == 422 and "reads" in bad.text
    assert _policy(cc, capi, integ, {"tools": {"a/b": "stage"}}).status_code == 400
    assert _policy(cc, capi, integ, {"reads": "stage"}, user="a_member").status_code == 403
    assert _policy(cc, capi, integ, {"reads": "stage"}, user="b_admin").status_code == 404
    assert _policy(cc, capi, integ, user="b_admin").status_code == 404
    assert _policy(cc, capi, "int_nope").status_code == 404
    assert _policy(cc, capi, integ).json()["reads"] is None
