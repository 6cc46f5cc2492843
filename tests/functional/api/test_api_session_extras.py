"""A session's agents, commands and skills; MCP server management; summarize; share links. Through the Python client
over the app (an offline runtime with a scripted model); the live MCP statuses are checked against `dexa serve` in
tests/integration/api/test_api_workspace_serve.py."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from api_harness import Api, make_config_api

from dexa.api.shares import SHARES
from dexa.client import DexaClient
from dexa.core.errors import ConfigError, ConflictError, NotFoundError, PermissionDeniedError
from dexa.core.ports import ModelRequest
from dexa.testing.script import Turn
from dexa.testing.scripted import FunctionModel, text

SUMMARY = "The user asked for a greeting <b>bold</b>; it was given."


def _reply(request: ModelRequest) -> Turn:
    if "summaries" in request.system:  # the summarize request (the compaction prompt and system)
        return text(SUMMARY)
    return text(f"hello <script>alert(1)</script> after {len(request.messages)} messages")


@pytest.fixture
def api(tmp_path: Path) -> Api:
    return make_config_api(tmp_path, model=FunctionModel(_reply))


def _run(api: Api, body: Callable[[DexaClient, DexaClient, DexaClient], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        transport = httpx.ASGITransport(app=api.app)
        async with (
            DexaClient("http://dexa", api.tokens["a_member"], transport=transport) as member,
            DexaClient("http://dexa", api.tokens["a_admin"], transport=transport) as admin,
            DexaClient("http://dexa", transport=transport, token=None) as anonymous,
        ):
            return await body(member, admin, anonymous)

    return asyncio.run(main())


async def _idle(c: DexaClient, sid: str) -> None:
    async for ev in c.events(sid):
        if ev.type == "session.idle":
            return


def test_a_sessions_agents_commands_and_skills_name_their_source(api: Api) -> None:
    ws = Path(api.app.state.dexa.default_cwd)
    (ws / ".claude" / "agents").mkdir(parents=True)
    (ws / ".claude" / "agents" / "reviewer.md").write_text("---\nname: reviewer\ndescription: Reviews\n---\nGo.\n")
    (ws / ".claude" / "commands").mkdir()
    (ws / ".claude" / "commands" / "ship.md").write_text("---\ndescription: Ship the branch\n---\nShip $ARGUMENTS\n")
    (ws / ".claude" / "skills" / "deploy").mkdir(parents=True)
    (ws / ".claude" / "skills" / "deploy" / "SKILL.md").write_text("---\nname: deploy\ndescription: Ship it\n---\n.\n")

    async def body(c: DexaClient, _a: DexaClient, _n: DexaClient) -> None:
        sid = (await c.create_session()).id
        agents = {a.name: a.source for a in (await c.session_agents(sid)).data}
        assert agents["reviewer"] == "project" and "general-purpose" in agents
        commands = {s.name: (s.kind, s.source) for s in (await c.session_commands(sid)).data}
        assert commands["ship"] == ("command", "project")
        assert commands["compact"] == ("builtin", "builtin") and commands["help"] == ("builtin", "builtin")
        assert "deploy" not in commands
        skills = {s.name: (s.kind, s.source, s.description) for s in (await c.session_skills(sid)).data}
        assert skills == {"deploy": ("skill", "project", "Ship it")}

    _run(api, body)


def test_mcp_servers_are_added_and_removed_in_claude_codes_files(api: Api) -> None:
    ws = Path(api.app.state.dexa.default_cwd)
    home = Path(api.app.state.dexa.paths.home("org_a"))
    project = str(ws.resolve())
    stdio = {"type": "stdio", "command": "srv", "args": ["--port", "1"]}

    async def body(c: DexaClient, admin: DexaClient, _n: DexaClient) -> None:
        sid = (await c.create_session()).id
        added = await c.add_mcp_server(sid, "tools", stdio)
        assert (added.scope, added.reloaded) == ("local", True) and added.file.startswith(str(home / ".claude.json"))
        local = json.loads((home / ".claude.json").read_text())["projects"][project]["mcpServers"]
        assert local == {"tools": stdio}
        with pytest.raises(ConflictError):
            await c.add_mcp_server(sid, "tools", stdio)
        await c.add_mcp_server(sid, "shared", {"type": "http", "url": "https://mcp.example.com/mcp"}, scope="project")
        assert (
            json.loads((ws / ".mcp.json").read_text())["mcpServers"]["shared"]["url"] == "https://mcp.example.com/mcp"
        )
        with pytest.raises(PermissionDeniedError) as member_user_scope:
            await c.add_mcp_server(sid, "everywhere", stdio, scope="user")
        assert "admin" in str(member_user_scope.value)
        await admin.add_mcp_server(sid, "everywhere", stdio, scope="user")
        assert json.loads((home / ".claude.json").read_text())["mcpServers"] == {"everywhere": stdio}
        with pytest.raises(ConfigError) as bad:
            await c.add_mcp_server(sid, "bad", {"type": "stdio", "command": ["not", "a", "string"]})
        assert "command" in str(bad.value)
        await c.remove_mcp_server(sid, "shared")
        assert json.loads((ws / ".mcp.json").read_text())["mcpServers"] == {}
        with pytest.raises(NotFoundError):
            await c.remove_mcp_server(sid, "shared")
        with pytest.raises(PermissionDeniedError):
            await c.remove_mcp_server(sid, "everywhere")  # user scope: admins only
        await c.remove_mcp_server(sid, "tools")
        assert "tools" not in json.loads((home / ".claude.json").read_text())["projects"][project]["mcpServers"]

    _run(api, body)


def test_a_symlinked_mcp_json_is_never_read_or_replaced(api: Api, tmp_path: Path) -> None:
    ws = Path(api.app.state.dexa.default_cwd)
    target = tmp_path / "outside.json"
    target.write_text('{"mcpServers": {}}')
    (ws / ".mcp.json").symlink_to(target)

    async def body(c: DexaClient, _a: DexaClient, _n: DexaClient) -> None:
        sid = (await c.create_session()).id
        with pytest.raises(ConfigError) as refused:
            await c.add_mcp_server(sid, "x", {"type": "http", "url": "https://x.test/mcp"}, scope="project")
        assert refused.value.code == "symlink"

    _run(api, body)
    assert target.read_text() == '{"mcpServers": {}}' and (ws / ".mcp.json").is_symlink()


def test_authenticating_a_remote_server_starts_the_integrations_oauth_flow(api: Api) -> None:
    async def body(c: DexaClient, admin: DexaClient, _n: DexaClient) -> None:
        sid = (await c.create_session()).id
        await c.add_mcp_server(sid, "linear", {"type": "http", "url": "https://mcp.linear.test/mcp"})
        await c.add_mcp_server(sid, "local-tool", {"type": "stdio", "command": "srv"})
        started = await c.authenticate_mcp_server(sid, "linear")
        assert started.authorize_url.startswith("https://auth.example.com/authorize?state=")
        integrations = (await admin.list_integrations()).data
        (made,) = [i for i in integrations if i.id == started.integration_id]
        assert made.kind == "custom_mcp" and made.config == {"url": "https://mcp.linear.test/mcp"}
        again = await c.authenticate_mcp_server(sid, "linear")
        assert again.integration_id == started.integration_id  # the org's integration for that URL is reused
        oauth = api.app.state.dexa.oauth
        assert {v[2] for v in oauth.pending.values()} == {"user:usr_a_member"}  # the caller's own grant
        with pytest.raises(PermissionDeniedError):
            await c.authenticate_mcp_server(sid, "linear", for_="org")
        assert (await admin.authenticate_mcp_server(sid, "linear")).integration_id == made.id
        assert {v[2] for v in oauth.pending.values()} == {"user:usr_a_member", "org"}  # an admin's default
        with pytest.raises(ConfigError):
            await c.authenticate_mcp_server(sid, "local-tool")
        with pytest.raises(NotFoundError):
            await c.authenticate_mcp_server(sid, "nobody")

    _run(api, body)


def test_summarize_uses_the_sessions_model_and_leaves_the_history(api: Api) -> None:
    async def body(c: DexaClient, _a: DexaClient, _n: DexaClient) -> None:
        empty = (await c.create_session()).id
        with pytest.raises(ConfigError) as nothing:
            await c.summarize(empty)
        assert nothing.value.code == "empty_session"
        sid = (await c.create_session(prompt="say hello")).id
        await _idle(c, sid)
        before = await api.runtime.store.list_messages(sid)
        got = await c.summarize(sid)
        assert (got.summary, got.messages, got.session_id) == (SUMMARY, len(before), sid)
        assert [m.id for m in await api.runtime.store.list_messages(sid)] == [m.id for m in before]

    _run(api, body)


def test_a_share_link_opens_the_session_read_only_until_revoked(api: Api) -> None:
    async def body(c: DexaClient, _a: DexaClient, anonymous: DexaClient) -> None:
        sid = (await c.create_session(prompt="say hello", title="greeting <i>")).id
        await _idle(c, sid)
        await c.summarize(sid)
        share = await c.create_share(sid, expires_in_s=3600)
        assert share.status == "active" and share.url.endswith(f"/shared/{share.token}")
        seen = await anonymous.open_share(share.token)
        assert (seen.id, seen.title, seen.summary) == (sid, "greeting <i>", SUMMARY)
        assert [(m.role, m.text) for m in seen.messages] == [
            ("user", "say hello"),
            ("assistant", "hello <script>alert(1)</script> after 1 messages"),
        ]
        page = await anonymous.view_share(share.token)
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>" not in page
        assert "greeting &lt;i&gt;" in page and "&lt;b&gt;bold&lt;/b&gt;" in page
        listed = await c.list_shares(sid)
        assert [(s.id, s.status) for s in listed.data] == [(share.id, "active")]
        assert "token" not in listed.data[0].model_dump()
        for forged in (share.token[:-2] + "xx", share.token.split(".")[0], "not-a-token", share.token + "."):
            with pytest.raises(NotFoundError):
                await anonymous.open_share(forged)
        assert (await c.revoke_share(sid, share.id)).status == "revoked"
        for call in (anonymous.open_share(share.token), anonymous.view_share(share.token)):
            with pytest.raises(NotFoundError):
                await call
        with pytest.raises(NotFoundError):
            await c.revoke_share(sid, "shr_missing")

    _run(api, body)


def test_an_expired_share_link_answers_404_and_lists_as_expired(api: Api) -> None:
    async def body(c: DexaClient, _a: DexaClient, anonymous: DexaClient) -> None:
        sid = (await c.create_session(title="old")).id
        share = await c.create_share(sid, expires_in_s=60)
        assert (await anonymous.open_share(share.token)).id == sid
        store = api.runtime.store
        doc = await store.kv_get(SHARES, share.id, org_id="org_a")
        assert doc is not None
        await store.kv_put(SHARES, share.id, {**doc, "expires_at": doc["created_at"] - 1}, org_id="org_a")
        with pytest.raises(NotFoundError):
            await anonymous.open_share(share.token)
        assert [s.status for s in (await c.list_shares(sid)).data] == ["expired"]

    _run(api, body)


def test_a_share_token_of_one_session_cannot_be_bent_to_another(api: Api) -> None:
    async def body(c: DexaClient, _a: DexaClient, anonymous: DexaClient) -> None:
        import base64

        mine = (await c.create_session(title="shared")).id
        other = (await c.create_session(title="private")).id
        share = await c.create_share(mine)
        claims_b64, sig = share.token.split(".")
        claims = json.loads(base64.urlsafe_b64decode(claims_b64 + "=" * (-len(claims_b64) % 4)))
        bent = {**claims, "s": other}
        body_b64 = base64.urlsafe_b64encode(json.dumps(bent, separators=(",", ":")).encode()).rstrip(b"=").decode()
        with pytest.raises(NotFoundError):
            await anonymous.open_share(f"{body_b64}.{sig}")

    _run(api, body)


def test_the_terminal_refuses_read_only_keys_and_workspaces_without_one(api: Api) -> None:
    from fastapi.testclient import TestClient
    from starlette.websockets import WebSocketDisconnect

    with TestClient(api.app) as c:
        sid = c.post("/sessions", json={}, headers=api.h("a_member")).json()["id"]
        assert c.post(f"/sessions/{sid}/terminal/tickets", headers=api.h("a_reviewer")).status_code == 403
        for headers, code, reason in (
            (api.h("a_reviewer"), 4403, "sessions:write"),
            (api.h("a_member"), 4501, "no terminal"),  # the offline runtime's workspace is a plain directory
            ({"Authorization": "Bearer dexa_bogus"}, 4401, ""),
        ):
            with c.websocket_connect(f"/sessions/{sid}/terminal", headers=headers) as ws:
                with pytest.raises(WebSocketDisconnect) as closed:
                    ws.receive_json()
                assert closed.value.code == code and reason in closed.value.reason, closed.value.reason
