"""A vendor-hosted MCP server connected over the MCP authorization flow, against a real resource server and its
authorization server on 127.0.0.1 (both the SDK's own server-side auth; see remote_oauth_servers.py).

Entered where the control plane enters: the integration registry (what the API and CLI call), the staged-output
queue, and the session's MCP tools built by `mcp_tools_for_session`.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx2
import pytest
from mcp.shared.auth import OAuthClientInformationFull
from remote_oauth_servers import Vendor, start_vendor

from dexa.core.errors import PermissionDeniedError
from dexa.core.session import Session
from dexa.core.tools import SessionState, ToolContext, ToolRegistry
from dexa.integrations.oauth import ClientRegistration, grant_key
from dexa.integrations.session_tools import Integrations, build_integrations, mcp_tools_for_session
from dexa.testing.fakes import DirWorkspace

pytestmark = pytest.mark.anyio
ORG = "org_r"
REDIRECT = "https://dexa.test/oauth/callback"


@pytest.fixture
def vendor() -> Iterator[Vendor]:
    v = start_vendor(names=("crm", "other"), liar=True)
    yield v
    v.stop()


@pytest.fixture
def short_lived() -> Iterator[Vendor]:
    v = start_vendor(token_ttl=2)
    yield v
    v.stop()


async def consent(authorize_url: str, *, approve: bool = True) -> dict[str, str]:
    """The user's browser: open the authorize URL, approve on the vendor's consent page, read the redirect."""
    async with httpx2.AsyncClient() as browser:
        to_consent = await browser.get(authorize_url)
        assert to_consent.status_code == 302, to_consent.text
        page = await browser.get(to_consent.headers["location"])
        match = re.search(r'name="txn" value="([^"]+)"', page.text)
        assert match is not None, page.text
        answer = await browser.post(
            to_consent.headers["location"].split("?")[0],
            data={"txn": match.group(1), "approve": "yes" if approve else "no"},
        )
    assert answer.status_code == 302
    location = answer.headers["location"]
    assert location.startswith(REDIRECT)
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def wire(store, vault) -> Integrations:
    return build_integrations(store, vault, redirect_uri=REDIRECT, base_url="https://dexa.test")


async def connect(integrations: Integrations, url: str, *, name: str = "crm") -> dict[str, Any]:
    registry = integrations.registry
    await registry.set_allowlist(ORG, ["http://127.0.0.1:*"])
    record = await registry.add(ORG, {"provider": "custom_mcp", "name": name, "url": url, "trusted_reads": True})
    answer = await consent(await registry.begin_connect(ORG, record["id"], user_id="u1"))
    return await registry.complete_connect(state=answer["state"], code=answer["code"], iss=answer.get("iss"))


class SessionTools:
    """One session's MCP tools, as the env factory builds them, with the events they emit."""

    def __init__(self, tmp: Path, store, integrations: Integrations) -> None:
        self.tmp, self.store, self.integrations = tmp, store, integrations
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.n = 0

    async def __aenter__(self) -> SessionTools:
        session = Session(id=f"ses_{id(self)}", org_id=ORG, user_id="u1", cwd=str(self.tmp), model="scripted")
        await self.store.create_session(session)
        self.session = session

        async def emit(type_: str, data: Any) -> None:
            self.events.append((type_, dict(data)))

        tools, self.manager = await mcp_tools_for_session(
            session, integrations=self.integrations, kv=self.store, emit=emit, env={}
        )
        self.registry = ToolRegistry(tools)
        self.manager.attach(self.registry)
        await self.manager.load_sources(["crm"])
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.manager.aclose()

    async def call(self, name: str, args: dict[str, Any]) -> Any:
        self.n += 1

        async def emit(type_: str, data: Any) -> None:
            self.events.append((type_, dict(data)))

        tool = self.registry.get(name)
        assert tool is not None, self.registry.names()
        ctx = ToolContext(
            session_id=self.session.id,
            org_id=ORG,
            tool_use_id=f"tu_{self.n}",
            workspace=DirWorkspace(self.tmp),
            state=SessionState(cwd=str(self.tmp)),
            emit=emit,
            kv=self.store,
        )
        return await tool.run(args, ctx)


# ---------------------------------------------------------------- discovery and consent


async def test_discovery_registration_and_consent_connect_the_server(store, vault, vendor: Vendor) -> None:
    integrations = wire(store, vault)
    registry = integrations.registry
    await registry.set_allowlist(ORG, ["http://127.0.0.1:*"])
    record = await registry.add(ORG, {"provider": "custom_mcp", "name": "crm", "url": vendor.url()})
    assert record["status"] == "connected"  # a custom server is usable as-is until it asks for OAuth
    authorize = await registry.begin_connect(ORG, record["id"], user_id="u1")

    # Discovery found the AS from the server's protected-resource metadata; DCR registered Dexa there.
    assert authorize.startswith(vendor.auth.issuer.rstrip("/") + "/authorize?")
    (client,) = vendor.auth.registrations
    assert [str(u) for u in client.redirect_uris or []] == [REDIRECT] and client.application_type == "web"
    query = {k: v[0] for k, v in parse_qs(urlsplit(authorize).query).items()}
    assert query["client_id"] == client.client_id and query["code_challenge_method"] == "S256"
    assert query["resource"] == vendor.url() and query["scope"] == "crm"  # RFC 8707; scope from the PRM

    answer = await consent(authorize)
    connected = await registry.complete_connect(state=answer["state"], code=answer["code"], iss=answer["iss"])
    assert connected["status"] == "connected" and connected["auth"] == "oauth"
    (exchange,) = vendor.auth.token_requests
    assert exchange["grant_type"] == "authorization_code" and exchange["resource"] == vendor.url()
    assert len(exchange["code_verifier"]) >= 43 and exchange["client_id"] == client.client_id

    status = await registry.status(ORG, record["id"], probe=True)
    assert status["health"]["ok"], status["health"]
    assert status["token"]["issuer"] == vendor.auth.issuer and status["token"]["resource"] == vendor.url()
    assert status["token"]["has_refresh_token"]
    shown = json.dumps(status)
    assert not any(token in shown for token in vendor.auth.issued)
    raw = vault.path.read_bytes()
    assert not any(token.encode() in raw for token in vendor.auth.issued)  # encrypted at rest

    # A second org connecting the same server reuses the registration made with that issuer.
    other = build_integrations(store, vault, redirect_uri=REDIRECT)
    await other.registry.set_allowlist("org_2", ["http://127.0.0.1:*"])
    second = await other.registry.add("org_2", {"provider": "custom_mcp", "name": "crm", "url": vendor.url()})
    await other.registry.begin_connect("org_2", second["id"], user_id="u2")
    assert len(vendor.auth.registrations) == 1


async def test_without_dynamic_registration_a_hand_registered_client_is_used(store, vault) -> None:
    vendor = start_vendor(dcr=False)
    try:
        integrations = wire(store, vault)
        registry = integrations.registry
        await registry.set_allowlist(ORG, ["http://127.0.0.1:*"])
        record = await registry.add(ORG, {"provider": "custom_mcp", "name": "crm", "url": vendor.url()})
        with pytest.raises(PermissionDeniedError, match=re.escape("dexa integrations client http://127.0.0.1:")):
            await registry.begin_connect(ORG, record["id"], user_id="u1")
        # The admin registers Dexa at the vendor, then tells Dexa (the issuer as they typed it, no slash).
        vendor.auth.clients["dexa-by-hand"] = OAuthClientInformationFull(
            client_id="dexa-by-hand",
            client_secret="hand-secret",
            redirect_uris=[REDIRECT],  # pyright: ignore[reportArgumentType]
            token_endpoint_auth_method="client_secret_post",
            grant_types=["authorization_code", "refresh_token"],
            scope="crm",
        )
        assert integrations.oauth is not None
        await integrations.oauth.register_client(
            ClientRegistration(
                issuer=vendor.auth.issuer.rstrip("/"), client_id="dexa-by-hand", client_secret="hand-secret"
            )
        )
        answer = await consent(await registry.begin_connect(ORG, record["id"], user_id="u1"))
        done = await registry.complete_connect(state=answer["state"], code=answer["code"], iss=answer["iss"])
        assert done["status"] == "connected" and vendor.auth.registrations == []
        (exchange,) = vendor.auth.token_requests
        assert exchange["client_id"] == "dexa-by-hand" and exchange["client_secret"] == "hand-secret"
        assert (await registry.status(ORG, record["id"], probe=True))["health"]["ok"]
    finally:
        vendor.stop()


async def test_a_state_is_single_use_and_a_refused_consent_connects_nothing(store, vault, vendor: Vendor) -> None:
    integrations = wire(store, vault)
    registry = integrations.registry
    await registry.set_allowlist(ORG, ["http://127.0.0.1:*"])
    record = await registry.add(ORG, {"provider": "custom_mcp", "name": "crm", "url": vendor.url()})
    answer = await consent(await registry.begin_connect(ORG, record["id"], user_id="u1"))
    await registry.complete_connect(state=answer["state"], code=answer["code"], iss=answer["iss"])
    with pytest.raises(PermissionDeniedError, match="already used"):
        await registry.complete_connect(state=answer["state"], code=answer["code"], iss=answer["iss"])
    refused = await consent(await registry.begin_connect(ORG, record["id"], user_id="u1"), approve=False)
    assert refused == {"error": "access_denied", "state": refused["state"]}


async def test_an_authorization_response_from_another_issuer_is_refused(store, vault, vendor: Vendor) -> None:
    integrations = wire(store, vault)
    registry = integrations.registry
    await registry.set_allowlist(ORG, ["http://127.0.0.1:*"])
    record = await registry.add(ORG, {"provider": "custom_mcp", "name": "crm", "url": vendor.url()})
    vendor.auth.forged_iss = "https://attacker.example/"
    answer = await consent(await registry.begin_connect(ORG, record["id"], user_id="u1"))
    with pytest.raises(PermissionDeniedError, match="iss mismatch"):
        await registry.complete_connect(state=answer["state"], code=answer["code"], iss=answer["iss"])
    assert vendor.auth.token_requests == [] and await vault.get(grant_key(ORG, record["id"])) is None


# ---------------------------------------------------------------- audience


async def test_a_token_is_only_accepted_by_the_resource_it_was_issued_for(store, vault, vendor: Vendor) -> None:
    integrations = wire(store, vault)
    connected = await connect(integrations, vendor.url("crm"))
    grant = json.loads(await vault.get(grant_key(ORG, connected["id"])) or "{}")
    probe = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    headers = {"Authorization": f"Bearer {grant['access_token']}", "Accept": "application/json, text/event-stream"}
    async with httpx2.AsyncClient() as http:
        # Same authorization server, another MCP server: the token's resource is not this one.
        other = await http.post(vendor.url("other"), json=probe, headers=headers)
    assert other.status_code == 401 and "invalid_token" in other.headers["www-authenticate"]


async def test_a_server_whose_metadata_names_another_resource_gets_no_token(store, vault, vendor: Vendor) -> None:
    integrations = wire(store, vault)
    registry = integrations.registry
    await registry.set_allowlist(ORG, ["http://127.0.0.1:*"])
    record = await registry.add(ORG, {"provider": "custom_mcp", "name": "liar", "url": vendor.url("liar")})
    with pytest.raises(PermissionDeniedError, match="does not match"):
        await registry.begin_connect(ORG, record["id"], user_id="u1")
    assert vendor.auth.authorize_requests == [] and vendor.auth.registrations == []


# ---------------------------------------------------------------- use, staging, refresh, revocation


async def test_session_calls_go_through_the_manager_and_a_write_is_staged(
    tmp_path: Path, store, vault, vendor: Vendor
) -> None:
    integrations = wire(store, vault)
    await connect(integrations, vendor.url())
    async with SessionTools(tmp_path, store, integrations) as session:
        found = await session.call("mcp__crm__find_contact", {"email": "ana@acme.example"})
        assert not found.is_error and json.loads(found.content)["name"] == "Ana Silva"
        staged = await session.call("mcp__crm__update_deal", {"deal_id": "d_1", "stage": "won"})
        assert staged.content.startswith("Staged as") and not staged.is_error
        assert [c["tool"] for c in vendor.calls()] == ["find_contact"]
        (pending,) = await integrations.queue.list(ORG, status="pending")
    # Approved after the session ended: the control plane makes the pinned call with the org's grant, once.
    results = await asyncio.gather(
        *(integrations.queue.approve(ORG, pending["id"], by=f"r{i}") for i in range(5)), return_exceptions=True
    )
    assert sum(isinstance(r, dict) for r in results) == 1
    assert [c for c in vendor.calls() if c["tool"] == "update_deal"] == [
        {"tool": "update_deal", "deal_id": "d_1", "stage": "won"}
    ]


async def test_a_token_that_expires_mid_session_is_refreshed_without_the_session_noticing(
    tmp_path: Path, store, vault, short_lived: Vendor
) -> None:
    integrations = wire(store, vault)
    connected = await connect(integrations, short_lived.url())
    first = json.loads(await vault.get(grant_key(ORG, connected["id"])) or "{}")
    async with SessionTools(tmp_path, store, integrations) as session:
        for _ in range(3):
            out = await session.call("mcp__crm__find_contact", {"email": "ana@acme.example"})
            assert not out.is_error, out.content
            await asyncio.sleep(2.1)  # past the token's 2-second life, on the same connection
    refreshes = [r for r in short_lived.auth.token_requests if r["grant_type"] == "refresh_token"]
    assert len(refreshes) >= 2 and all(r["resource"] == short_lived.url() for r in refreshes)
    # Rotation: each refresh spent the previous refresh token, and the vault holds the newest one.
    assert refreshes[0]["refresh_token"] == first["refresh_token"]
    assert refreshes[1]["refresh_token"] != first["refresh_token"]
    now = json.loads(await vault.get(grant_key(ORG, connected["id"])) or "{}")
    assert now["version"] > first["version"] and now["refresh_token"] in short_lived.auth.refresh
    assert not [e for e in session.events if e[0] in ("error", "warning")], session.events


async def test_after_a_restart_an_expired_grant_is_refreshed_not_re_authorized(
    tmp_path: Path, store, vault, short_lived: Vendor
) -> None:
    await connect(wire(store, vault), short_lived.url())
    await asyncio.sleep(2.1)
    restarted = wire(store, vault)  # a new process: nothing in memory, the grant's expiry is in the past
    async with SessionTools(tmp_path, store, restarted) as session:
        out = await session.call("mcp__crm__find_contact", {"email": "ana@acme.example"})
    assert not out.is_error, out.content
    grants = [r["grant_type"] for r in short_lived.auth.token_requests]
    # (More than one refresh only if this machine took longer than the token's 2-second life to connect.)
    assert grants[0] == "authorization_code" and set(grants[1:]) == {"refresh_token"}
    assert len(short_lived.auth.authorize_requests) == 1


async def test_a_refused_access_token_is_refreshed_in_place_of_a_new_login(
    tmp_path: Path, store, vault, vendor: Vendor
) -> None:
    integrations = wire(store, vault)
    await connect(integrations, vendor.url())
    async with SessionTools(tmp_path, store, integrations) as session:
        assert not (await session.call("mcp__crm__find_contact", {"email": "a@acme.example"})).is_error
        vendor.auth.access.clear()  # the vendor dropped its access tokens (a key rotation); refresh tokens live
        out = await session.call("mcp__crm__find_contact", {"email": "a@acme.example"})
    assert not out.is_error, out.content
    assert [r["grant_type"] for r in vendor.auth.token_requests] == ["authorization_code", "refresh_token"]
    assert len(vendor.auth.authorize_requests) == 1


async def test_two_processes_sharing_a_rotating_grant_do_not_lock_each_other_out(
    tmp_path: Path, store, vault, short_lived: Vendor
) -> None:
    connected = await connect(wire(store, vault), short_lived.url())
    serve, run = wire(store, vault), wire(store, vault)  # e.g. dexa serve and a dexa run on the same home
    async with SessionTools(tmp_path, store, run) as late:
        assert not (await late.call("mcp__crm__find_contact", {"email": "a@acme.example"})).is_error
        await asyncio.sleep(2.1)
        async with SessionTools(tmp_path, store, serve) as early:  # rotates the refresh `late` holds
            assert not (await early.call("mcp__crm__find_contact", {"email": "a@acme.example"})).is_error
        out = await late.call("mcp__crm__find_contact", {"email": "a@acme.example"})
    assert not out.is_error, out.content
    status = await serve.registry.status(ORG, connected["id"])
    assert status["status"] == "connected" and status["token"]["status"] == "ok"


async def test_revocation_at_the_vendor_asks_for_a_reconnect_and_reconnecting_works(
    tmp_path: Path, store, vault, vendor: Vendor
) -> None:
    integrations = wire(store, vault)
    connected = await connect(integrations, vendor.url())
    vendor.auth.revoke_everything()  # the user removed Dexa in the vendor's settings
    async with SessionTools(tmp_path, store, integrations) as session:
        # The server refuses the token; the control plane tries its refresh token, which is dead too.
        outs = [await session.call("mcp__crm__find_contact", {"email": "a@acme.example"}) for _ in range(2)]
    for out in outs:
        assert out.is_error and "connected again" in out.content, out.content
        assert f"dexa integrations connect {connected['id']}" in out.content
    status = await integrations.registry.status(ORG, connected["id"])
    assert status["status"] == "needs_reauth" and status["token"]["status"] == "needs_reauth"

    answer = await consent(await integrations.registry.begin_connect(ORG, connected["id"], user_id="u1"))
    await integrations.registry.complete_connect(state=answer["state"], code=answer["code"], iss=answer["iss"])
    async with SessionTools(tmp_path, store, integrations) as session:
        again = await session.call("mcp__crm__find_contact", {"email": "a@acme.example"})
    assert not again.is_error, again.content
    assert (await integrations.registry.status(ORG, connected["id"]))["status"] == "connected"


async def test_removing_the_integration_revokes_the_grant_at_the_vendor(store, vault, vendor: Vendor) -> None:
    integrations = wire(store, vault)
    connected = await connect(integrations, vendor.url())
    grant = json.loads(await vault.get(grant_key(ORG, connected["id"])) or "{}")
    await integrations.registry.remove(ORG, connected["id"])
    assert grant["refresh_token"] in vendor.auth.revoked and grant["access_token"] in vendor.auth.revoked
    assert vendor.auth.access == {} and vendor.auth.refresh == {}
    assert await vault.get(grant_key(ORG, connected["id"])) is None
