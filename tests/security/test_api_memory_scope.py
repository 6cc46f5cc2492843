"""Attack #6: `PUT /memory` wrote the server-wide ~/.claude/CLAUDE.md (one org's admin injected text into every
org's sessions), and its @imports let another org's member read a host file and the local admin token through
`GET /memory`.

Now each org's "user" layer is its own scope ($DEXA_HOME/orgs/<org_id>/.claude), and a scoped org's memory only
loads files (imports and symlinks included) inside its workspace or that scope.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from api_rig import Rig, make_rig, tree_digest

from dexa.auth.bootstrap import token_path


@pytest.fixture
def rig(tmp_path: Path) -> Rig:
    return make_rig(tmp_path)


def test_one_orgs_user_memory_never_reaches_another_org_or_the_host_home(rig: Rig) -> None:
    before = tree_digest(rig.user_home, rig.org_ws("a"))
    with rig.client() as c:
        r = c.put(
            "/memory",
            json={"path": str(rig.user_home / ".claude" / "CLAUDE.md"), "content": "INJECTED by org b"},
            headers=rig.h("b_admin"),
        )
        assert r.status_code == 400 and r.json()["code"] == "config_error"  # the host's ~/.claude is not b's
        own = rig.runtime.settings.orgs_dir / "org_b" / ".claude" / "CLAUDE.md"
        r = c.put("/memory", json={"path": str(own), "content": "org b rules"}, headers=rig.h("b_admin"))
        assert r.status_code == 200, r.text
        assert own.read_text() == "org b rules"
        seen_by_a = c.get("/memory", headers=rig.h("a_admin")).json()
        seen_by_local = c.get("/memory", headers=rig.h("local")).json()
    assert not any("org b rules" in f["content"] or "INJECTED" in f["content"] for f in seen_by_a["files"])
    assert not any("org b rules" in f["content"] for f in seen_by_local["files"])
    assert any("machine owner's own memory" in f["content"] for f in seen_by_local["files"])
    assert tree_digest(rig.user_home, rig.org_ws("a")) == before


def test_imports_and_symlinks_cannot_pull_host_files_or_the_admin_token_into_memory(rig: Rig) -> None:
    token = rig.tokens["local"]
    token_file = token_path(rig.runtime.settings.home)
    ws_b = rig.org_ws("b")
    ws_b.mkdir(parents=True)
    (ws_b / "CLAUDE.md").write_text(f"project\n@{token_file}\n@{rig.user_home}/secret.txt\n@../org_a/repo/data.txt\n")
    (ws_b / ".claude").mkdir()
    (ws_b / ".claude" / "CLAUDE.md").symlink_to(token_file)  # a planted link, not an import
    scope_md = rig.runtime.settings.orgs_dir / "org_b" / ".claude" / "CLAUDE.md"
    with rig.client() as c:
        put = c.put(
            "/memory",
            json={"path": str(scope_md), "content": f"user layer\n@{token_file}\n@/etc/hostname\n"},
            headers=rig.h("b_admin"),
        )
        assert put.status_code == 200, put.text
        r = c.get("/memory", headers=rig.h("b_member"))
    assert r.status_code == 200, r.text
    body = r.text
    assert token not in body and "s3cr3t-host-file" not in body and "org a data" not in body
    contents = [f["content"] for f in r.json()["files"]]
    assert any(c.startswith("user layer") for c in contents) and any(c.startswith("project") for c in contents)
    assert all(f["path"] != "/etc/hostname" for f in r.json()["files"])
    messages = " ".join(p["message"] for p in r.json()["problems"])
    assert "not imported" in messages and "not loaded" in messages


def test_a_scoped_orgs_session_prompt_never_contains_host_files(rig: Rig) -> None:
    """The session environment (LocalEnvFactory) loads the same per-org scope, confined, as GET /memory shows."""
    import asyncio

    token = rig.tokens["local"]
    ws_b = rig.org_ws("b")
    ws_b.mkdir(parents=True)
    (ws_b / "CLAUDE.md").write_text(f"b project\n@{token_path(rig.runtime.settings.home)}\n")
    scope = rig.runtime.settings.orgs_dir / "org_b" / ".claude"
    scope.mkdir(parents=True)
    (scope / "CLAUDE.md").write_text(f"b user layer\n@{rig.user_home}/secret.txt\n")
    envs = rig.runtime.envs

    async def prompt() -> str:
        session = await rig.runtime.create_session(cwd=str(ws_b), org_id="org_b", user_id="usr_b_member")
        from dexa.agents.extensions import load_extensions

        factory = envs.for_org("org_b")
        ext = load_extensions(session.cwd, home=factory.home, stop_at=factory.memory_root(session))
        return ext.memory_text

    text = asyncio.run(prompt())
    assert "b project" in text and "b user layer" in text
    assert token not in text and "s3cr3t-host-file" not in text and "machine owner's own memory" not in text
