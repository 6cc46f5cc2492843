"""Connecting, using and disconnecting a vendor-hosted MCP server, with the SDK's OAuth client doing the protocol.

`begin` and `complete` each send the MCP server an unauthenticated request and let the SDK's provider answer
its 401 (discovery, registration, PKCE, resource indicator); in between, the pending authorization is a kv record
keyed by state, so the callback may land in another process. `auth_for` is the `httpx2.Auth` the control plane's
MCP connection uses: it adds the bearer and refreshes it, and is the only holder of the token.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import httpx2
from mcp.client.auth import OAuthFlowError, OAuthRegistrationError, OAuthTokenError
from mcp.client.auth.oauth2 import OAuthContext
from mcp.shared.auth import OAuthMetadata

from dexa.core.errors import ConfigError, PermissionDeniedError, ToolError
from dexa.core.ports import KeyValueStore
from dexa.integrations.grants import ORG, connect_hint
from dexa.integrations.oauth import PENDING_NAMESPACE, PENDING_TTL_S, USED_STATES, grant_key, public
from dexa.integrations.oauth_state import bound, new_state
from dexa.integrations.vault import SecretVault

from .provider import (
    AuthorizationRequired,
    Begin,
    Complete,
    DexaOAuthProvider,
    Headless,
    Phase,
    ReauthRequired,
    client_metadata,
)
from .storage import FLOW, VaultTokenStorage

# Sent to provoke the server's 401; the retried request after the code exchange proves the token works.
_PROBE = {
    "jsonrpc": "2.0",
    "id": 0,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "dexa", "version": "1"},
    },
}
_PROBE_HEADERS = {"Accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2025-11-25"}
_SDK_ERRORS = (OAuthFlowError, OAuthRegistrationError, OAuthTokenError)


class RemoteMcpAuth:
    def __init__(
        self,
        kv: KeyValueStore,
        vault: SecretVault,
        *,
        redirect_uri: str,
        http_options: Mapping[str, Any] | None = None,
        client_metadata_url: str | None = None,
    ) -> None:
        self.kv = kv
        self.vault = vault
        self.redirect_uri = redirect_uri
        # Extra httpx2 client options (proxies in production); every OAuth and MCP request uses them.
        self.http_options = dict(http_options or {})
        self.client_metadata_url = client_metadata_url
        # One provider per grant per process: the SDK's lock then serialises refreshes, so two sessions on one
        # grant never spend the same rotating refresh token.
        self._providers: dict[tuple[str, str, str, str], DexaOAuthProvider] = {}

    def _storage(
        self,
        org_id: str,
        integration_id: str,
        url: str,
        issuer_hint: str | None,
        *,
        fresh: bool = False,
        redirect_uri: str | None = None,
        owner: str = ORG,
    ) -> VaultTokenStorage:
        return VaultTokenStorage(
            self.kv,
            self.vault,
            org_id=org_id,
            integration_id=integration_id,
            server_url=url,
            redirect_uri=redirect_uri or self.redirect_uri,
            issuer_hint=issuer_hint,
            fresh=fresh,
            owner=owner,
        )

    def _provider(
        self, storage: VaultTokenStorage, url: str, phase: Phase, *, redirect_uri: str | None = None
    ) -> DexaOAuthProvider:
        return DexaOAuthProvider(
            url,
            storage=storage,
            redirect_uri=redirect_uri or self.redirect_uri,
            phase=phase,
            client_metadata_url=self.client_metadata_url,
        )

    async def _probe(self, provider: DexaOAuthProvider, url: str) -> httpx2.Response:
        async with httpx2.AsyncClient(auth=provider, timeout=30.0, **self.http_options) as http:
            try:
                return await http.post(url, json=_PROBE, headers=_PROBE_HEADERS)
            except OAuthRegistrationError as exc:
                issuer = provider.context.auth_server_url or "its authorization server"
                raise PermissionDeniedError(
                    f"{url}: Dexa could not register with {issuer} ({exc}); if it does not offer dynamic "
                    f"registration, register Dexa's client there and run `dexa integrations client {issuer} "
                    "CLIENT_ID --secret SECRET`"
                ) from exc
            except _SDK_ERRORS as exc:
                raise PermissionDeniedError(f"{url}: OAuth authorization failed: {exc}") from exc
            except httpx2.HTTPError as exc:
                raise ToolError(f"{url} is unreachable ({type(exc).__name__}: {exc})") from exc

    # ------------------------------------------------------------ connect

    async def begin(
        self,
        *,
        org_id: str,
        user_id: str,
        integration_id: str,
        url: str,
        issuer_hint: str | None = None,
        owner: str = ORG,
    ) -> str:
        """Discover and register, then return the URL where the user consents; the grant is stored for `owner`.

        Raises:
            PermissionDeniedError: discovery or registration failed a check (PRM for another resource,
                metadata naming another issuer, no usable client).
            ConfigError: the server did not ask for authorization at all.
        """

        async def save(state: str, verifier: str, found: Mapping[str, Any]) -> None:
            await self.kv.kv_put(
                PENDING_NAMESPACE,
                state,
                {
                    "flow": FLOW,
                    "org_id": org_id,
                    "user_id": user_id,
                    "integration_id": integration_id,
                    "owner": owner,
                    "url": url,
                    "verifier": verifier,
                    "redirect_uri": self.redirect_uri,
                    "expires_at": time.time() + PENDING_TTL_S,
                    **found,
                },
            )

        storage = self._storage(org_id, integration_id, url, issuer_hint, fresh=True, owner=owner)

        async def state() -> str:
            return await new_state(self.kv, org_id=org_id, user_id=user_id, integration_id=integration_id, owner=owner)

        provider = self._provider(storage, url, Begin(save, state))
        try:
            response = await self._probe(provider, url)
        except AuthorizationRequired as stop:
            return stop.url
        raise ConfigError(
            f"{url} answered HTTP {response.status_code} without asking for authorization; "
            "add it without OAuth (it needs none) or check the URL"
        )

    async def complete(self, *, state: str, code: str, iss: str | None = None) -> dict[str, Any]:
        """Exchange the code (through the SDK) and check the server accepts the new token.

        Returns the public grant facts with `org_id` and `integration_id`; never a token value.

        Raises:
            PermissionDeniedError: unknown, expired or replayed state; issuer mismatch (RFC 9207); the token
                endpoint refused the code; the server refused the token it was issued for.
        """
        pending = await self.kv.kv_get(PENDING_NAMESPACE, state)
        if pending is None or not await bound(self.kv, state, pending):
            raise PermissionDeniedError("unknown or already used OAuth state; start the connection again")
        if not await self.kv.kv_put_if_absent(USED_STATES, state, {"at": time.time()}):
            raise PermissionDeniedError("unknown or already used OAuth state; start the connection again")
        await self.kv.kv_delete(PENDING_NAMESPACE, state)
        if time.time() > float(pending["expires_at"]):
            raise PermissionDeniedError("the OAuth authorization expired (10 minutes); start the connection again")
        org_id, integration_id, url = pending["org_id"], pending["integration_id"], pending["url"]
        owner = str(pending.get("owner") or ORG)
        # The code is bound to the redirect URI the flow began with (the CLI and `dexa serve` may differ).
        redirect_uri = str(pending.get("redirect_uri") or self.redirect_uri)
        storage = self._storage(
            org_id, integration_id, url, pending.get("issuer"), fresh=True, redirect_uri=redirect_uri, owner=owner
        )
        self._forget_provider(org_id, integration_id, owner)
        provider = self._provider(storage, url, Complete(pending, code, iss), redirect_uri=redirect_uri)
        response = await self._probe(provider, url)
        if response.status_code in (401, 403):
            await self.vault.delete(grant_key(org_id, integration_id, owner))
            raise PermissionDeniedError(
                f"{url} refused the token its authorization server issued (HTTP {response.status_code}); "
                "the server and its authorization server disagree about the audience"
            )
        grant = await storage.grant()
        return {"org_id": org_id, "integration_id": integration_id, **public(grant)}

    # ------------------------------------------------------------ use

    def auth_for(self, org_id: str, integration_id: str, url: str, *, name: str, owner: str = ORG) -> httpx2.Auth:
        """The auth for the control plane's connection to this integration's server with `owner`'s grant (adds and
        refreshes the bearer; asks nobody)."""
        key = (org_id, integration_id, url, owner)
        provider = self._providers.get(key)
        if provider is None:
            storage = self._storage(org_id, integration_id, url, None, owner=owner)
            provider = self._providers[key] = self._provider(storage, url, Headless(name))
        return provider

    def _forget_provider(self, org_id: str, integration_id: str, owner: str | None = None) -> None:
        """Drop cached providers of one grant (`owner`), or of every grant of the integration."""
        for key in [k for k in self._providers if k[:2] == (org_id, integration_id) and owner in (None, k[3])]:
            del self._providers[key]

    async def check(self, org_id: str, integration_id: str, url: str, *, name: str, owner: str = ORG) -> None:
        """One authenticated request (refreshing if due). Raises PermissionDeniedError when it is refused."""
        grant = await self._storage(org_id, integration_id, url, None, owner=owner).grant()
        hint = connect_hint(integration_id, owner)
        if grant is None:
            raise PermissionDeniedError(f"integration {integration_id} is not connected; run `{hint}`")
        if grant.get("status") == "needs_reauth":
            raise ReauthRequired(
                f"integration {integration_id} needs to be reconnected (`{hint}`): {grant.get('last_error', '')}"
            )
        provider = self.auth_for(org_id, integration_id, url, name=name, owner=owner)
        response = await self._probe(provider, url)  # pyright: ignore[reportArgumentType]
        if response.status_code in (401, 403):
            raise PermissionDeniedError(f"{url} refused the stored token (HTTP {response.status_code})")

    # ------------------------------------------------------------ disconnect

    async def revoke(self, org_id: str, integration_id: str, owner: str = ORG) -> bool:
        """Revoke `owner`'s grant at the authorization server (RFC 7009) and forget it. True when the server took it.

        A server without a revocation endpoint, or one that fails, still leaves the grant forgotten here.
        """
        grant_raw = await self.vault.get(grant_key(org_id, integration_id, owner))
        self._forget_provider(org_id, integration_id, owner)
        if not grant_raw:
            return False
        storage = self._storage(org_id, integration_id, "", None, owner=owner)
        grant = await storage.grant() or {}
        await self.vault.delete(grant_key(org_id, integration_id, owner))
        asm = OAuthMetadata.model_validate(grant["asm"]) if grant.get("asm") else None
        if asm is None or asm.revocation_endpoint is None:
            return False
        storage.issuer_hint = str(asm.issuer)
        client = await storage.get_client_info()
        context = OAuthContext(
            server_url=str(grant.get("url", "")),
            client_metadata=client_metadata(self.redirect_uri),
            storage=storage,
            redirect_handler=None,
            callback_handler=None,
            client_info=client,
        )
        revoked = False
        async with httpx2.AsyncClient(timeout=30.0, **self.http_options) as http:
            # The refresh token first: revoking it ends the whole grant (RFC 7009 §2.1).
            for hint in ("refresh_token", "access_token"):
                token = grant.get(hint)
                if not token:
                    continue
                data = {"token": str(token), "token_type_hint": hint}
                if client is not None:
                    data["client_id"] = client.client_id
                data, headers = context.prepare_token_auth(data, {})
                try:
                    response = await http.post(str(asm.revocation_endpoint), data=data, headers=headers)
                except httpx2.HTTPError:
                    continue
                revoked = revoked or response.status_code == 200
        return revoked
