"""The SDK's `TokenStorage` over Dexa's vault: one grant per (org, integration), one client per issuer.

The grant is the record `OAuthService.load` and `public()` read (same vault key), plus what the SDK discovered
(protected-resource and authorization-server metadata), so a provider built after a restart can refresh against
the right token endpoint with the right `resource` without a new 401 round. Expiry is stored as an absolute time:
the SDK's `OAuthToken` only carries `expires_in` (mcp.md §0.10).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping
from typing import Any

from mcp.client.auth.utils import issuers_match
from mcp.shared.auth import OAuthClientInformationFull, OAuthMetadata, OAuthToken, ProtectedResourceMetadata

from dexa.core.ports import KeyValueStore
from dexa.integrations.grants import ORG
from dexa.integrations.oauth import CLIENTS_NAMESPACE, grant_key
from dexa.integrations.oauth_discovery import canonical_resource
from dexa.integrations.vault import SecretVault

FLOW = "remote_mcp"
ISSUER_HINTS = "remote_mcp_issuers"


def client_key(issuer: str, redirect_uri: str) -> str:
    # Per issuer (SEP-2352) and per redirect URI: a client registered for `dexa serve`'s callback cannot be used
    # with another address's, and the authorization server would refuse the mismatch.
    return f"oauth_client_info/{issuer}|{redirect_uri}"


def _url_key(url: str) -> str:
    return hashlib.sha256(canonical_resource(url).encode()).hexdigest()[:32]


class VaultTokenStorage:
    """`mcp.client.auth.TokenStorage` for one integration. `metadata` is filled in by the provider."""

    def __init__(
        self,
        kv: KeyValueStore,
        vault: SecretVault,
        *,
        org_id: str,
        integration_id: str,
        server_url: str,
        redirect_uri: str,
        issuer_hint: str | None = None,
        fresh: bool = False,
        owner: str = ORG,
    ) -> None:
        self.kv = kv
        self.vault = vault
        self.org_id = org_id
        self.integration_id = integration_id
        # Whose grant this is: the org's shared one or a user's own (grants.py); part of the vault key.
        self.owner = owner
        self.server_url = server_url
        self.redirect_uri = redirect_uri
        self.issuer_hint = issuer_hint
        # A (re)connect asks for consent even while a grant exists: the stored token is not offered.
        self.fresh = fresh
        self.prm: ProtectedResourceMetadata | None = None
        self.asm: OAuthMetadata | None = None
        self.resource: str | None = None

    # ------------------------------------------------------------ grant

    async def grant(self) -> dict[str, Any] | None:
        raw = await self.vault.get(grant_key(self.org_id, self.integration_id, self.owner))
        return json.loads(raw) if raw else None

    async def save_grant(self, grant: Mapping[str, Any]) -> None:
        await self.vault.put(grant_key(self.org_id, self.integration_id, self.owner), json.dumps(dict(grant)))

    async def get_tokens(self) -> OAuthToken | None:
        grant = None if self.fresh else await self.grant()
        if not grant or grant.get("status") == "needs_reauth" or not grant.get("access_token"):
            return None
        expires_at = grant.get("expires_at")
        remaining = None if expires_at is None else max(0, int(float(expires_at) - time.time()))
        return OAuthToken(
            access_token=str(grant["access_token"]),
            expires_in=remaining,
            scope=grant.get("scope") or None,
            refresh_token=grant.get("refresh_token"),
        )

    async def set_tokens(self, tokens: OAuthToken) -> None:
        previous = await self.grant() or {}
        now = time.time()
        asm = self.asm
        await self.save_grant(
            {
                "flow": FLOW,
                "owner": self.owner,
                "url": self.server_url,
                "access_token": tokens.access_token,
                "refresh_token": tokens.refresh_token or previous.get("refresh_token"),
                "token_type": tokens.token_type,
                "scope": tokens.scope or previous.get("scope") or "",
                # The SDK's clock is time.time(); the absolute expiry must be on the same clock.
                "expires_at": now + tokens.expires_in if tokens.expires_in is not None else None,
                "obtained_at": now,
                "server": {"issuer": str(asm.issuer)} if asm else previous.get("server") or {},
                "resource": self.resource or previous.get("resource"),
                # Which registration the grant belongs to: a refresh must authenticate as the same client.
                "redirect_uri": self.redirect_uri,
                "prm": self.prm.model_dump(mode="json", exclude_none=True) if self.prm else previous.get("prm"),
                "asm": asm.model_dump(mode="json", exclude_none=True) if asm else previous.get("asm"),
                "status": "ok",
                "last_error": "",
                "version": int(previous.get("version", 0)) + 1,
            }
        )

    async def mark(self, status: str, error: str) -> None:
        grant = await self.grant()
        if grant is not None:
            await self.save_grant({**grant, "status": status, "last_error": error})

    # ------------------------------------------------------------ client registration (per issuer)

    async def _issuer(self) -> str | None:
        grant = await self.grant()
        issuer = (grant or {}).get("server", {}).get("issuer")
        if issuer:
            return str(issuer)
        hint = await self.kv.kv_get(ISSUER_HINTS, _url_key(self.server_url))
        return str(hint["issuer"]) if hint else self.issuer_hint

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        """The client registered with the issuer this server used last time (the SDK drops it if the
        server now names another issuer, SEP-2352); else a client an admin pre-registered for it."""
        issuer = await self._issuer()
        if issuer is None:
            return None
        grant = None if self.fresh else await self.grant()
        redirect_uri = str((grant or {}).get("redirect_uri") or self.redirect_uri)
        raw = await self.vault.get(client_key(issuer, redirect_uri))
        if raw:
            return OAuthClientInformationFull.model_validate_json(raw)
        for registered, client in (await self.preregistered(redirect_uri)).items():
            if issuers_match(registered, issuer):
                return client
        return None

    async def _preregistered_client(
        self, issuer: str, doc: Mapping[str, Any], redirect_uri: str
    ) -> OAuthClientInformationFull:
        secret = await self.vault.get(f"oauth_client/{issuer}")
        return OAuthClientInformationFull(
            client_id=str(doc["client_id"]),
            client_secret=secret,
            token_endpoint_auth_method="client_secret_post" if secret else "none",
            redirect_uris=[redirect_uri],  # pyright: ignore[reportArgumentType]
            issuer=issuer,
        )

    async def preregistered(self, redirect_uri: str | None = None) -> dict[str, OAuthClientInformationFull]:
        """Clients an admin registered by hand (`dexa integrations client ISSUER ID`), by issuer: for
        authorization servers without dynamic registration (most vendors' own)."""
        out: dict[str, OAuthClientInformationFull] = {}
        for doc in await self.kv.kv_list(CLIENTS_NAMESPACE):
            if doc.get("issuer"):
                issuer = str(doc["issuer"])
                out[issuer] = await self._preregistered_client(issuer, doc, redirect_uri or self.redirect_uri)
        return out

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        issuer = client_info.issuer or (str(self.asm.issuer) if self.asm else None)
        if issuer is None:
            return  # a registration not bound to an issuer is used for this flow only
        await self.vault.put(client_key(issuer, self.redirect_uri), client_info.model_dump_json(exclude_none=True))
        await self.kv.kv_put(ISSUER_HINTS, _url_key(self.server_url), {"issuer": issuer, "url": self.server_url})
