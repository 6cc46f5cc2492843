"""OAuth 2.1 + PKCE against a local authlib authorization server: discovery, resource indicators, issuer checks,
absolute expiry, refresh after a restart, rotation, and re-auth on invalid_grant."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx2
import pytest
from fake_oauth_server import RESOURCE, FakeAuthServer

from dexa.core.errors import PermissionDeniedError, ToolError
from dexa.integrations.oauth import ClientRegistration, OAuthService
from dexa.integrations.oauth_discovery import AuthServer, authorization_server, canonical_resource

pytestmark = pytest.mark.anyio
REDIRECT = "https://dexa.test/oauth/callback"


async def _service(fake: FakeAuthServer, store, vault, clock) -> OAuthService:
    fake.add_client("dexa-client", REDIRECT)
    service = OAuthService(
        store,
        vault,
        redirect_uri=REDIRECT,
        http_options={"transport": httpx2.ASGITransport(app=fake.app())},
        clock=clock,
    )
    await service.register_client(ClientRegistration(issuer=fake.issuer, client_id="dexa-client"))
    return service


async def _authorize(service: OAuthService, url: str) -> dict[str, str]:
    """The user's browser: follow the authorize URL (the fake approves) and read the redirect."""
    async with service.http() as http:
        response = await http.get(url)
    assert response.status_code == 302, response.text
    location = response.headers["location"]
    assert location.startswith(REDIRECT)
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


async def _discover(service: OAuthService, issuer: str = FakeAuthServer.issuer) -> tuple[AuthServer, tuple[str, ...]]:
    """A managed provider's authorization server from its RFC 8414 metadata, with the resource's scopes."""
    async with service.http() as http:
        return await authorization_server(http, issuer), ("mcp:read", "mcp:write")


async def _connect(service: OAuthService) -> dict:
    server, scopes = await _discover(service)
    url = await service.begin(
        org_id="org",
        user_id="u1",
        integration_id="int_1",
        server=server,
        scopes=scopes,
        resource=canonical_resource(RESOURCE),
    )
    callback = await _authorize(service, url)
    return await service.complete(state=callback["state"], code=callback["code"], iss=callback.get("iss"))


async def test_pkce_flow_sends_the_resource_and_stores_an_absolute_expiry(store, vault, clock) -> None:
    fake = FakeAuthServer()
    service = await _service(fake, store, vault, clock)
    grant = await _connect(service)
    assert grant["connected"] and grant["expires_at"] == clock.now + 3600 and grant["issuer"] == fake.issuer
    auth = fake.authorize_requests[0]
    assert auth["code_challenge_method"] == "S256" and auth["resource"] == RESOURCE
    assert fake.token_requests[0]["resource"] == RESOURCE and len(fake.token_requests[0]["code_verifier"]) >= 43
    token = await service.access_token("org", "int_1")
    assert token == fake.tokens[0].access_token and len(fake.token_requests) == 1  # fresh: no refresh


async def test_an_expired_token_is_refreshed_after_a_restart_without_a_new_login(store, vault, clock) -> None:
    fake = FakeAuthServer()
    await _connect(await _service(fake, store, vault, clock))
    first_refresh = fake.tokens[0].refresh_token
    clock.now += 3600 + 1
    restarted = OAuthService(
        store,
        vault,
        redirect_uri=REDIRECT,
        http_options={"transport": httpx2.ASGITransport(app=fake.app())},
        clock=clock,
    )
    token = await restarted.access_token("org", "int_1")
    assert token == fake.tokens[1].access_token and token != fake.tokens[0].access_token
    refresh = fake.token_requests[-1]
    assert refresh["grant_type"] == "refresh_token" and refresh["resource"] == RESOURCE
    assert len(fake.authorize_requests) == 1  # no interactive re-authorization
    grant = await restarted.load("org", "int_1")
    assert grant["refresh_token"] == fake.tokens[1].refresh_token != first_refresh  # rotation persisted
    assert grant["expires_at"] == clock.now + 3600


async def test_refresh_happens_ahead_of_expiry_not_after(store, vault, clock) -> None:
    fake = FakeAuthServer()
    service = await _service(fake, store, vault, clock)
    await _connect(service)
    clock.now += 3600 - 301
    await service.access_token("org", "int_1")
    assert len(fake.token_requests) == 1
    clock.now += 2
    await service.access_token("org", "int_1")
    assert fake.token_requests[-1]["grant_type"] == "refresh_token"


async def test_an_authorization_response_from_another_issuer_is_rejected(store, vault, clock) -> None:
    fake = FakeAuthServer(response_issuer="https://evil.test")
    service = await _service(fake, store, vault, clock)
    with pytest.raises(PermissionDeniedError, match="issuer mismatch"):
        await _connect(service)
    assert fake.token_requests == [] and await service.load("org", "int_1") is None


async def test_metadata_claiming_another_issuer_is_rejected_at_discovery(store, vault, clock) -> None:
    fake = FakeAuthServer(metadata_issuer="https://impostor.test")
    service = await _service(fake, store, vault, clock)
    with pytest.raises(PermissionDeniedError, match="issuer"):
        await _discover(service, fake.issuer)


async def test_a_state_cannot_be_replayed_and_a_wrong_verifier_fails(store, vault, clock) -> None:
    fake = FakeAuthServer()
    service = await _service(fake, store, vault, clock)
    server, scopes = await _discover(service)
    url = await service.begin(
        org_id="org", user_id="u", integration_id="int_2", server=server, scopes=scopes, resource=RESOURCE
    )
    callback = await _authorize(service, url)
    pending = await store.kv_get("oauth_pending", callback["state"])
    await store.kv_put("oauth_pending", callback["state"], {**pending, "verifier": "x" * 64})
    with pytest.raises(ToolError, match="invalid_grant"):
        await service.complete(state=callback["state"], code=callback["code"], iss=callback["iss"])
    with pytest.raises(PermissionDeniedError, match="already used"):
        await service.complete(state=callback["state"], code=callback["code"], iss=callback["iss"])


async def test_a_revoked_refresh_token_marks_the_grant_needs_reauth(store, vault, clock) -> None:
    fake = FakeAuthServer()
    service = await _service(fake, store, vault, clock)
    await _connect(service)
    fake.revoke_all()
    clock.now += 7200
    with pytest.raises(PermissionDeniedError, match="reconnected"):
        await service.access_token("org", "int_1")
    assert (await service.load("org", "int_1"))["status"] == "needs_reauth"
    with pytest.raises(PermissionDeniedError, match="reconnected"):
        await service.access_token("org", "int_1")
