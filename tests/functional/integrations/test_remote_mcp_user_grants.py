"""A vendor-hosted MCP server with the org's grant and a user's own (the SDK's server-side auth on 127.0.0.1, as in
test_remote_mcp_oauth.py): each session's connection presents the grant its user's policy picks, an approved output
runs with the grant of the user whose session staged it, and removing the integration revokes every grant."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx2
import pytest
from remote_oauth_servers import Vendor, start_vendor

from dexa.core.session import Session
from dexa.core.tools import SessionState, ToolContext, ToolRegistry
from dexa.integrations.oauth import grant_key
from dexa.integrations.session_tools import Integrations, build_integrations, mcp_tools_for_session
from dexa.testing.fakes import DirWorkspace

pytestmark = pytest.mark.anyio
ORG = "org_g"
REDIRECT = "https://dexa.test/oauth/callback"


@pytest.fixture
def vendor() -> Iterator[Vendor]:
    v = start_vendor()
    yield v
    v.stop()


async def _consent(authorize_url: str) -> dict[str, str]:
    """The user's browser at the vendor: open the authorize URL, press Allow, read where it is sent back."""
    async with httpx2.AsyncClient() as browser:
        to_consent = await browser.get(authorize_url)
        page = await browser.get(to_consent.headers["location"])
        match = re.search(r'name="txn" value="([^"]+)"', page.text)
        assert match is not None, page.text
        answer = await browser.post(
            to_consent.headers["location"].split("?")[0], data={"txn": match.group(1), "approve": "yes"}
        )
    assert answer.status_code == 302
    return {k: v[0] for k, v in parse_qs(urlsplit(answer.headers["location"]).query).items()}


async def _connect(integrations: Integrations, integration_id: str, user_id: str, owner: str) -> str:
    """Connects `owner`'s grant as `user_id`; returns the access token it stored."""
    registry = integrations.registry
    answer = await _consent(await registry.begin_connect(ORG, integration_id, user_id=user_id, owner=owner))
    done = await registry.complete_connect(state=answer["state"], code=answer["code"], iss=answer["iss"])
    assert done["grant_owner"] == owner
    raw = await registry.vault.get(grant_key(ORG, integration_id, owner))
    assert raw is not None
    return str(json.loads(raw)["access_token"])


async def _call(tmp: Path, store: Any, integrations: Integrations, user_id: str, tool: str, args: dict) -> Any:
    """One tool call in a session `user_id` started, through the tools the env factory builds."""
    session = Session(id=f"ses_{time.monotonic_ns()}", org_id=ORG, user_id=user_id, cwd=str(tmp), model="scripted")
    await store.create_session(session)
    tools, manager = await mcp_tools_for_session(session, integrations=integrations, kv=store, env={})
    try:
        registry = ToolRegistry(tools)
        manager.attach(registry)
        await manager.load_sources(["crm"])
        found = registry.get(f"mcp__crm__{tool}")
        assert found is not None, registry.names()

        async def emit(type_: str, data: Any) -> None:
            return None

        ctx = ToolContext(
            session_id=session.id,
            org_id=ORG,
            tool_use_id=f"tu_{time.monotonic_ns()}",
            workspace=DirWorkspace(tmp),
            state=SessionState(cwd=str(tmp)),
            emit=emit,
            kv=store,
        )
        return await found.run(args, ctx)
    finally:
        await manager.aclose()


async def test_sessions_and_approved_outputs_present_their_users_grant(
    tmp_path: Path, store, vault, vendor: Vendor
) -> None:
    presented: list[str] = []
    verify = vendor.auth.load_access_token

    async def recording(token: str) -> Any:
        presented.append(token)
        return await verify(token)

    vendor.auth.load_access_token = recording  # type: ignore[method-assign]
    integrations = build_integrations(store, vault, redirect_uri=REDIRECT, base_url="https://dexa.test")
    registry = integrations.registry
    await registry.set_allowlist(ORG, ["http://127.0.0.1:*"])
    record = await registry.add(
        ORG, {"provider": "custom_mcp", "name": "crm", "url": vendor.url(), "trusted_reads": True}
    )
    org_token = await _connect(integrations, record["id"], "u_admin", "org")
    ana_token = await _connect(integrations, record["id"], "u_ana", "user:u_ana")
    assert org_token != ana_token
    presented.clear()  # connecting checked each new token once

    found = await _call(tmp_path, store, integrations, "u_ana", "find_contact", {"email": "ana@acme.example"})
    assert not found.is_error, found.content
    assert set(presented) == {ana_token}
    presented.clear()
    await _call(tmp_path, store, integrations, "u_bo", "find_contact", {"email": "ana@acme.example"})
    assert set(presented) == {org_token}  # Bo has no grant of his own: the org's, never Ana's

    # Ana's write is staged; a reviewer approves it and it runs with Ana's grant.
    staged = await _call(tmp_path, store, integrations, "u_ana", "update_deal", {"deal_id": "d_1", "stage": "won"})
    assert "Staged as" in staged.content, staged.content
    (pending,) = await integrations.queue.list(ORG, status="pending")
    presented.clear()
    done = await integrations.queue.approve(ORG, pending["id"], by="u_reviewer")
    assert done["status"] == "executed", done
    assert done["grant_owner"] == "user:u_ana" and done["decided_by"] == "u_reviewer"
    assert set(presented) == {ana_token}
    assert [c["tool"] for c in vendor.calls()] == ["find_contact", "find_contact", "update_deal"]

    # user_only: Bo's sessions no longer see the server at all.
    await registry.set_grant_policy(ORG, record["id"], "user_only")
    bo = Session(id="ses_bo", org_id=ORG, user_id="u_bo", cwd=str(tmp_path), model="scripted")
    assert [s.name for s in await integrations.managed.session_servers(ORG, bo.user_id)] == []
    # ListSources tells Bo's agent how he connects his own.
    (hint,) = [u for u in await registry.unconnected(ORG, bo.user_id) if u["name"] == "crm"]
    assert hint["connect"].endswith(f"dexa integrations connect {record['id']} --mine`")
    assert not [u for u in await registry.unconnected(ORG, "u_ana") if u["name"] == "crm"]

    # Removing the integration revokes every grant at the vendor and forgets them here.
    await registry.remove(ORG, record["id"])
    assert await verify(org_token) is None and await verify(ana_token) is None
    assert await vault.keys(f"oauth/{ORG}/{record['id']}") == []
