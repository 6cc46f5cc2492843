"""Attack #5: `POST /sessions` accepted any `cwd` on the server; `/permissions/check` read any path's settings.

A member of org b tried /root, /, org a's workspace (absolute, `..`, through a symlink) and /usr/local/bin. Every
attempt must be refused with a status naming the field, no session may be created, and nothing outside org b's
workspace may change.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from api_rig import Rig, make_rig, tree_digest


@pytest.fixture
def rig(tmp_path: Path) -> Rig:
    return make_rig(tmp_path)


def _hostile_cwds(rig: Rig) -> list[str]:
    ws_b = rig.org_ws("b")
    ws_b.mkdir(parents=True, exist_ok=True)
    (ws_b / "into-a").symlink_to(rig.org_ws("a") / "repo")
    return [
        "/root",
        "/",
        "/usr/local/bin",
        str(rig.org_ws("a") / "repo"),
        "../org_a/repo",
        "into-a",  # a link inside b's own workspace that points at a's
        str(rig.serve_dir),  # the local org's registered workspace is the local org's only
        str(rig.user_home),
    ]


def test_another_orgs_member_cannot_start_a_session_outside_its_workspace(rig: Rig) -> None:
    cwds = _hostile_cwds(rig)
    before = tree_digest(rig.org_ws("a"), rig.user_home, rig.serve_dir)
    with rig.client() as c:
        for cwd in cwds:
            r = c.post("/sessions", json={"cwd": cwd, "title": "x"}, headers=rig.h("b_member"))
            assert r.status_code == 403, (cwd, r.text)
            assert r.json()["code"] == "forbidden" and r.json()["detail"].startswith("cwd:")
            assert r.headers["content-type"].startswith("application/problem+json")
        assert c.get("/sessions", headers=rig.h("b_member")).json()["count"] == 0
    assert asyncio.run(rig.runtime.store.list_sessions(org_id="org_b")) == []
    assert tree_digest(rig.org_ws("a"), rig.user_home, rig.serve_dir) == before


def test_a_relative_cwd_lands_inside_the_orgs_own_workspace_root(rig: Rig) -> None:
    (rig.org_ws("b") / "proj").mkdir(parents=True)
    with rig.client() as c:
        default = c.post("/sessions", json={}, headers=rig.h("b_member"))
        rel = c.post("/sessions", json={"cwd": "proj"}, headers=rig.h("b_member"))
        local = c.post("/sessions", json={}, headers=rig.h("local"))
    assert default.status_code == 201 and default.json()["cwd"] == str(rig.org_ws("b").resolve())
    assert rel.status_code == 201 and rel.json()["cwd"] == str((rig.org_ws("b") / "proj").resolve())
    # The local owner keeps starting sessions where `dexa serve` was started.
    assert local.status_code == 201 and local.json()["cwd"] == str(rig.serve_dir.resolve())


def test_a_schedule_cannot_point_a_future_session_outside_the_workspace(rig: Rig) -> None:
    with rig.client() as c:
        body = {"cron": "0 9 * * 1-5", "prompt": "x", "cwd": str(rig.org_ws("a") / "repo")}
        r = c.post("/schedules", json=body, headers=rig.h("b_admin"))
        assert r.status_code == 403 and "cwd" in r.json()["detail"]
        assert c.get("/schedules", headers=rig.h("b_admin")).json()["count"] == 0


def test_permission_checks_cannot_read_another_workspaces_settings(rig: Rig) -> None:
    claude = rig.org_ws("a") / "repo" / ".claude"
    claude.mkdir()
    (claude / "settings.json").write_text('{"permissions": {"allow": ["Bash(curl:*)"]}}')
    before = tree_digest(rig.org_ws("a"), rig.user_home)
    with rig.client() as c:
        for body in (
            {"tool": "Bash", "input": {"command": "curl x"}, "cwd": str(rig.org_ws("a") / "repo")},
            {"tool": "Bash", "input": {"command": "ls"}, "cwd": "/"},
            {"tool": "Read", "input": {"file_path": str(rig.user_home / "secret.txt")}},
            {"tool": "Read", "input": {"file_path": "../org_a/repo/data.txt"}},
        ):
            r = c.post("/permissions/check", json=body, headers=rig.h("b_member"))
            assert r.status_code == 403 and r.json()["code"] == "forbidden", (body, r.text)
        ok = c.post("/permissions/check", json={"tool": "Read", "input": {"file_path": "x"}}, headers=rig.h("b_member"))
        assert ok.status_code == 200, ok.text
    assert tree_digest(rig.org_ws("a"), rig.user_home) == before


def test_settings_and_memory_reads_of_another_orgs_workspace_answer_404(rig: Rig) -> None:
    with rig.client() as c:
        for path in ("/memory", "/settings/permissions", "/agents"):
            r = c.get(path, params={"cwd": str(rig.org_ws("a") / "repo")}, headers=rig.h("b_admin"))
            assert r.status_code == 404, (path, r.text)
            assert "confidential" not in r.text
