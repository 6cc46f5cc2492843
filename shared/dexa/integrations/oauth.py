"""OAuth 2.1 authorization code + PKCE for integrations, owned by the control plane.

- `begin` records the pending authorization (state, PKCE verifier, expected issuer, resource) and returns the
  authorize URL with `resource` (RFC 8707) and `code_challenge_method=S256`.
- `complete` checks the state (single use, 10 minutes), the `iss` of the response (RFC 9207), exchanges the code
  with the verifier and `resource`, and stores the grant in the vault with an ABSOLUTE expiry.
- `access_token` refreshes ahead of expiry (also after a restart: the expiry is absolute, so no interactive login
  is needed), keeps rotated refresh tokens, and marks `needs_reauth` on `invalid_grant`.
Client registrations are keyed by issuer (never reused across authorization servers).
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import urlencode

import httpx2
from authlib.integrations.httpx_client import AsyncOAuth2Client, OAuthError
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from dexa.core.errors import ConfigError, PermissionDeniedError, ToolError
from dexa.core.ports import KeyValueStore

from .grants import ORG, connect_hint, key_suffix
from .oauth_discovery import AuthServer
from .oauth_state import bound, new_state
from .vault import SecretVault

logger = logging.getLogger(__name__)

PENDING_NAMESPACE = "oauth_pending"
USED_STATES = "oauth_states_used"
CLIENTS_NAMESPACE = "oauth_clients"
PENDING_TTL_S = 600.0


def grant_key(org_id: str, integration_id: str, owner: str = ORG) -> str:
    """The vault key of one grant: the org's shared one, or a user's own (`owner` "user:<id>", see grants.py)."""
    return f"oauth/{org_id}/{integration_id}{key_suffix(owner)}"


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientRegistration:
    issuer: str
    client_id: str
    client_secret: str | None = None


class OAuthService:
    def __init__(
        self,
        kv: KeyValueStore,
        vault: SecretVault,
        *,
        redirect_uri: str,
        http_options: Mapping[str, Any] | None = None,
        clock: Callable[[], float] = time.time,
        refresh_margin_s: float = 300.0,
    ) -> None:
        self.kv = kv
        self.vault = vault
        self.redirect_uri = redirect_uri
        # Extra httpx2 client options (a transport in tests, proxies in production).
        self.http_options = dict(http_options or {})
        self.clock = clock
        self.refresh_margin_s = refresh_margin_s
        self._locks: dict[str, asyncio.Lock] = {}

    def http(self) -> httpx2.AsyncClient:
        return httpx2.AsyncClient(timeout=30.0, **self.http_options)

    # ------------------------------------------------------------ client registrations (per issuer)

    async def register_client(self, registration: ClientRegistration) -> None:
        await self.kv.kv_put(
            CLIENTS_NAMESPACE, registration.issuer, {"client_id": registration.client_id, "issuer": registration.issuer}
        )
        if registration.client_secret:
            await self.vault.put(f"oauth_client/{registration.issuer}", registration.client_secret)

    async def client_for(self, issuer: str) -> ClientRegistration:
        doc = await self.kv.kv_get(CLIENTS_NAMESPACE, issuer)
        if doc is None:
            raise ConfigError(
                f"no OAuth client is registered for issuer {issuer}; register Dexa's client id for "
                "it first (`dexa integrations client ISSUER CLIENT_ID`)"
            )
        return ClientRegistration(
            issuer=issuer, client_id=str(doc["client_id"]), client_secret=await self.vault.get(f"oauth_client/{issuer}")
        )

    # ------------------------------------------------------------ authorization code flow

    async def begin(
        self,
        *,
        org_id: str,
        user_id: str,
        integration_id: str,
        server: AuthServer,
        scopes: Sequence[str],
        resource: str | None,
        owner: str = ORG,
    ) -> str:
        """Returns the URL the user opens to authorize; the grant it yields is stored for `owner`."""
        if "S256" not in server.code_challenge_methods:
            raise PermissionDeniedError(f"authorization server {server.issuer} does not support PKCE S256")
        client = await self.client_for(server.issuer)
        state = await new_state(
            self.kv, org_id=org_id, user_id=user_id, integration_id=integration_id, owner=owner
        )  # the callback's only credential (oauth_state.py)
        verifier = secrets.token_urlsafe(64)
        await self.kv.kv_put(
            PENDING_NAMESPACE,
            state,
            {
                "org_id": org_id,
                "user_id": user_id,
                "integration_id": integration_id,
                "owner": owner,
                "verifier": verifier,
                "server": server.to_dict(),
                "scopes": list(scopes),
                "resource": resource,
                "redirect_uri": self.redirect_uri,
                "expires_at": self.clock() + PENDING_TTL_S,
            },
        )
        params = {
            "response_type": "code",
            "client_id": client.client_id,
            "redirect_uri": self.redirect_uri,
            "scope": " ".join(scopes),
            "state": state,
            "code_challenge": create_s256_code_challenge(verifier),
            "code_challenge_method": "S256",
            **server.extra_params,
        }
        if resource:
            params["resource"] = resource
        sep = "&" if "?" in server.authorization_endpoint else "?"
        return f"{server.authorization_endpoint}{sep}{urlencode(params)}"

    async def complete(self, *, state: str, code: str, iss: str | None = None) -> dict[str, Any]:
        """Finish the flow; returns the public grant info (no token values).

        Raises:
            PermissionDeniedError: unknown/expired/replayed state, or an issuer mismatch (RFC 9207).
            ToolError: the token endpoint refused the code.
        """
        pending = await self.kv.kv_get(PENDING_NAMESPACE, state)
        if pending is None or not await bound(self.kv, state, pending):
            raise PermissionDeniedError("unknown or already used OAuth state; start the connection again")
        if not await self.kv.kv_put_if_absent(USED_STATES, state, {"at": self.clock()}):
            raise PermissionDeniedError("unknown or already used OAuth state; start the connection again")
        await self.kv.kv_delete(PENDING_NAMESPACE, state)
        if self.clock() > float(pending["expires_at"]):
            raise PermissionDeniedError("the OAuth authorization expired (10 minutes); start the connection again")
        server = AuthServer.from_dict(pending["server"])
        if iss is not None and iss != server.issuer:
            raise PermissionDeniedError(
                f"issuer mismatch: the authorization response came from {iss!r}, expected "
                f"{server.issuer!r} (RFC 9207); possible mix-up attack, refusing"
            )
        if iss is None and server.iss_parameter_supported:
            raise PermissionDeniedError(f"{server.issuer} promises an iss parameter but the response had none")
        extra = {"resource": pending["resource"]} if pending.get("resource") else {}
        token = await self._token_request(
            server,
            grant_type="authorization_code",
            code=code,
            code_verifier=pending["verifier"],
            redirect_uri=pending["redirect_uri"],
            **extra,
        )
        owner = str(pending.get("owner") or ORG)
        grant = {**self._grant(token, server=server, resource=pending.get("resource"), previous=None), "owner": owner}
        await self._save(pending["org_id"], pending["integration_id"], grant, owner)
        return {"org_id": pending["org_id"], "integration_id": pending["integration_id"], **public(grant)}

    async def _token_request(self, server: AuthServer, **body: Any) -> dict[str, Any]:
        client = await self.client_for(server.issuer)
        method = "client_secret_post" if client.client_secret else "none"
        oauth = AsyncOAuth2Client(
            client_id=client.client_id,
            client_secret=client.client_secret,
            token_endpoint_auth_method=method,
            timeout=30.0,
            **self.http_options,
        )
        try:
            if body.get("grant_type") == "refresh_token":
                body.pop("grant_type")
                token = await oauth.refresh_token(server.token_endpoint, **body)
            else:
                token = await oauth.fetch_token(server.token_endpoint, **body)
        except OAuthError as exc:
            raise ToolError(
                f"{server.issuer} token endpoint: {exc.error}: {exc.description or ''}".strip(),
                code="invalid_grant" if exc.error == "invalid_grant" else None,
            ) from exc
        except httpx2.HTTPError as exc:
            raise ToolError(f"{server.issuer} token endpoint unreachable ({type(exc).__name__})") from exc
        finally:
            await cast(httpx2.AsyncClient, oauth).aclose()
        return dict(token)

    def _grant(
        self, token: Mapping[str, Any], *, server: AuthServer, resource: str | None, previous: Mapping[str, Any] | None
    ) -> dict[str, Any]:
        now = self.clock()
        expires_in = token.get("expires_in")
        expires_at = now + float(expires_in) if expires_in is not None else token.get("expires_at")
        return {
            "access_token": token["access_token"],
            # Rotating providers send a new refresh token; others omit it and the old one stays valid.
            "refresh_token": token.get("refresh_token") or (previous or {}).get("refresh_token"),
            "token_type": token.get("token_type", "Bearer"),
            "scope": token.get("scope", ""),
            "expires_at": float(expires_at) if expires_at is not None else None,
            "obtained_at": now,
            "server": server.to_dict(),
            "resource": resource,
            "status": "ok",
            "last_error": "",
            "version": int((previous or {}).get("version", 0)) + 1,
            "owner": (previous or {}).get("owner", ORG),
        }

    async def _save(self, org_id: str, integration_id: str, grant: Mapping[str, Any], owner: str = ORG) -> None:
        await self.vault.put(grant_key(org_id, integration_id, owner), json.dumps(grant))

    async def load(self, org_id: str, integration_id: str, owner: str = ORG) -> dict[str, Any] | None:
        raw = await self.vault.get(grant_key(org_id, integration_id, owner))
        return json.loads(raw) if raw else None

    async def forget(self, org_id: str, integration_id: str, owner: str = ORG) -> None:
        await self.vault.delete(grant_key(org_id, integration_id, owner))

    # ------------------------------------------------------------ using and refreshing

    async def access_token(self, org_id: str, integration_id: str, owner: str = ORG) -> str:
        """A valid access token of `owner`'s grant, refreshed ahead of expiry.

        Raises:
            PermissionDeniedError: not connected, or the grant needs a new interactive login.
        """
        key = grant_key(org_id, integration_id, owner)
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            grant = await self.load(org_id, integration_id, owner)
            if grant is None:
                raise PermissionDeniedError(
                    f"integration {integration_id} is not connected; run `{connect_hint(integration_id, owner)}`"
                )
            if grant.get("status") == "needs_reauth":
                raise PermissionDeniedError(
                    f"integration {integration_id} needs to be reconnected (`{connect_hint(integration_id, owner)}`): "
                    f"{grant.get('last_error', '')}"
                )
            expires_at = grant.get("expires_at")
            if expires_at is None or float(expires_at) - self.refresh_margin_s > self.clock():
                return str(grant["access_token"])
            return await self._refresh(org_id, integration_id, grant, owner)

    async def _refresh(self, org_id: str, integration_id: str, grant: dict[str, Any], owner: str = ORG) -> str:
        if not grant.get("refresh_token"):
            grant = {**grant, "status": "needs_reauth", "last_error": "access token expired and no refresh token"}
            await self._save(org_id, integration_id, grant, owner)
            raise PermissionDeniedError(f"integration {integration_id} expired; reconnect it")
        server = AuthServer.from_dict(grant["server"])
        extra = {"resource": grant["resource"]} if grant.get("resource") else {}
        try:
            token = await self._token_request(
                server, grant_type="refresh_token", refresh_token=grant["refresh_token"], **extra
            )
        except ToolError as exc:
            if exc.code == "invalid_grant":
                await self._save(
                    org_id, integration_id, {**grant, "status": "needs_reauth", "last_error": str(exc)}, owner
                )
                raise PermissionDeniedError(f"integration {integration_id} must be reconnected: {exc}") from exc
            await self._save(org_id, integration_id, {**grant, "last_error": str(exc)}, owner)
            raise
        fresh = self._grant(token, server=server, resource=grant.get("resource"), previous=grant)
        await self._save(org_id, integration_id, fresh, owner)
        logger.info("refreshed OAuth token for %s/%s (%s)", org_id, integration_id, owner)
        return str(fresh["access_token"])


def public(grant: Mapping[str, Any] | None) -> dict[str, Any]:
    """Grant facts that are safe to show (never token values)."""
    if not grant:
        return {"connected": False}
    return {
        "connected": True,
        "status": grant.get("status", "ok"),
        "expires_at": grant.get("expires_at"),
        "scope": grant.get("scope", ""),
        "issuer": (grant.get("server") or {}).get("issuer"),
        "resource": grant.get("resource"),
        "last_error": grant.get("last_error", ""),
        "has_refresh_token": bool(grant.get("refresh_token")),
        "owner": grant.get("owner", ORG),
    }
