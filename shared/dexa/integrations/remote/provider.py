"""The SDK's `OAuthClientProvider`, split so an authorization can span two HTTP requests (or two Lambdas).

The SDK runs discovery, registration (CIMD or DCR), PKCE, `resource`, the `iss` check, the code exchange and
refresh. It asks the user through `_perform_authorization_code_grant`, which in the SDK waits in-process for a
callback. Dexa's control plane cannot wait: the browser comes back to `/oauth/callback`, maybe in another process.
So that one step is replaced per phase:

- `Begin`: make the PKCE pair and state, persist them with what discovery found, and stop the flow with the
  authorization URL.
- `Complete`: the flow is re-run from the server's 401; at the same step it hands the SDK the code from the
  callback and the persisted verifier, after checking the issuer is the one the user authorized with.
- `Headless` (sessions, approved outputs): nobody is there to ask. A 401 on a token thought valid is answered
  with a refresh (`_perform_authorization` / `_handle_token_response`); when that fails the grant is marked
  `needs_reauth` and the call fails with a message saying how to reconnect.

`_initialize` also restores what discovery found last time and the absolute expiry, so a provider built after a
restart refreshes before sending an expired token instead of starting a new authorization (mcp.md §0.10).
The overrides are private SDK methods of mcp 2.x (they must be re-checked before moving to 3); the tests run
the real flow against servers built from the SDK's server-side auth.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, NoReturn
from urllib.parse import urlencode, urljoin, urlsplit

import httpx2
from mcp.client.auth import OAuthClientProvider, PKCEParameters
from mcp.client.auth.utils import issuers_match, validate_authorization_response_iss
from mcp.shared.auth import OAuthClientInformationFull, OAuthClientMetadata, OAuthMetadata, ProtectedResourceMetadata

from dexa.core.errors import PermissionDeniedError
from dexa.integrations.grants import connect_hint

from .storage import VaultTokenStorage

# A token counts as expired this long before its absolute expiry (refresh ahead, not after a 401), capped at a
# tenth of its lifetime so a short-lived token is still used.
REFRESH_MARGIN_S = 30.0


class AuthorizationRequired(BaseException):
    """Stops the SDK's flow at the consent step with the URL to open.

    A BaseException so the SDK's `except Exception: logger.exception("OAuth flow error")` does not log an
    ordinary connect as a failure; it never leaves `RemoteMcpAuth.begin`.
    """

    def __init__(self, url: str, state: str) -> None:
        super().__init__(url)
        self.url = url
        self.state = state


class ReauthRequired(PermissionDeniedError):
    """The grant cannot be used or refreshed; a person must connect the integration again."""

    code = "integration_needs_reauth"


@dataclass(frozen=True, slots=True)
class Begin:
    # Persists the pending authorization; called with (state, verifier, what the flow discovered).
    save: Callable[[str, str, Mapping[str, Any]], Awaitable[None]]
    # Mints the state (signed and bound to the sign-in, dexa.integrations.oauth_state); random when absent.
    new_state: Callable[[], Awaitable[str]] | None = None


@dataclass(frozen=True, slots=True)
class Complete:
    pending: Mapping[str, Any]
    code: str
    iss: str | None


@dataclass(frozen=True, slots=True)
class Headless:
    name: str


Phase = Begin | Complete | Headless


def client_metadata(redirect_uri: str, scope: str | None = None) -> OAuthClientMetadata:
    host = urlsplit(redirect_uri).hostname or ""
    return OAuthClientMetadata(
        redirect_uris=[redirect_uri],  # pyright: ignore[reportArgumentType]
        client_name="Dexa",
        grant_types=["authorization_code", "refresh_token"],
        response_types=["code"],
        token_endpoint_auth_method="client_secret_post",
        # SEP-837: a loopback redirect is a native app; Dexa's hosted callback is a web one.
        application_type="native" if host in ("127.0.0.1", "localhost", "::1") else "web",
        scope=scope,
    )


class DexaOAuthProvider(OAuthClientProvider):
    def __init__(
        self,
        server_url: str,
        *,
        storage: VaultTokenStorage,
        redirect_uri: str,
        phase: Phase,
        client_metadata_url: str | None = None,
    ) -> None:
        super().__init__(
            server_url,
            client_metadata(redirect_uri),
            storage,
            client_metadata_url=client_metadata_url,
        )
        self.storage = storage
        self.phase = phase
        self._refreshing_after_401 = False
        self._preregistered: dict[str, OAuthClientInformationFull] = {}

    async def _initialize(self) -> None:
        await super()._initialize()
        self._preregistered = await self.storage.preregistered() if self.context.client_info is None else {}
        grant = await self.storage.grant()
        if not grant or self.context.current_tokens is None:
            return
        if grant.get("prm") and grant.get("asm"):
            self.context.protected_resource_metadata = ProtectedResourceMetadata.model_validate(grant["prm"])
            self.context.oauth_metadata = OAuthMetadata.model_validate(grant["asm"])
            self.context.auth_server_url = str(self.context.protected_resource_metadata.authorization_servers[0])
            self._share_metadata()
        if grant.get("expires_at") is not None:
            expires_at = float(grant["expires_at"])
            lifetime = expires_at - float(grant.get("obtained_at") or expires_at)
            self.context.token_expiry_time = expires_at - min(REFRESH_MARGIN_S, lifetime / 10)

    def _select_authorization_server(self, advertised: list[str]) -> str:
        # Prefer an advertised server Dexa has a hand-registered client for, and use that client (it is bound to
        # that issuer, SEP-2352); otherwise the SDK registers one (CIMD or DCR) with the first.
        for candidate in advertised:
            client = next((c for i, c in self._preregistered.items() if issuers_match(i, candidate)), None)
            if client is not None:
                if self.context.client_info is None:
                    self.context.client_info = client
                return candidate
        return super()._select_authorization_server(advertised)

    def _share_metadata(self) -> None:
        # The storage writes what discovery found next to the tokens it is given.
        self.storage.prm = self.context.protected_resource_metadata
        self.storage.asm = self.context.oauth_metadata
        self.storage.resource = self.context.get_resource_url()

    async def _perform_authorization(self) -> httpx2.Request:
        # Headless, a 401 on a token we thought valid (revoked access token, clocks that differ) is answered with
        # the refresh grant in the authorization's place; only when that fails is a person asked.
        if isinstance(self.phase, Headless):
            # Another process (dexa serve and a `dexa run`, two Lambdas) may have rotated the refresh token
            # since this one loaded it: refresh with the vault's newest, not the one just refused.
            stored = await self.storage.get_tokens()
            if stored is not None:
                self.context.current_tokens = stored
            if self.context.can_refresh_token():
                self._refreshing_after_401 = True
                return await self._refresh_token()
        return await super()._perform_authorization()

    async def _handle_token_response(self, response: httpx2.Response) -> None:
        if not self._refreshing_after_401:
            await super()._handle_token_response(response)
            return
        self._refreshing_after_401 = False
        if not await self._handle_refresh_response(response):  # stores the new tokens when it succeeds
            await self._needs_reauth()

    async def _perform_authorization_code_grant(self) -> tuple[str, str]:
        self._share_metadata()
        phase = self.phase
        if isinstance(phase, Begin):
            return await self._begin(phase)
        if isinstance(phase, Complete):
            return self._complete(phase)
        await self._needs_reauth()

    async def _needs_reauth(self) -> NoReturn:
        name = self.phase.name if isinstance(self.phase, Headless) else self.context.server_url
        message = (
            f"{name} needs to be connected again (its authorization was revoked or expired); "
            f"run `{connect_hint(self.storage.integration_id, self.storage.owner)}`"
        )
        await self.storage.mark("needs_reauth", message)
        raise ReauthRequired(message)

    def _authorization_endpoint(self) -> str:
        if self.context.oauth_metadata is not None:
            return str(self.context.oauth_metadata.authorization_endpoint)
        return urljoin(self.context.get_authorization_base_url(self.context.server_url), "/authorize")

    async def _begin(self, phase: Begin) -> tuple[str, str]:
        client = self.context.client_info
        redirect_uris = self.context.client_metadata.redirect_uris
        if client is None or not redirect_uris:
            raise PermissionDeniedError(f"{self.context.server_url}: no OAuth client could be registered")
        # The same request the SDK builds (PKCE S256, RFC 8707 resource, challenged scope).
        pkce = PKCEParameters.generate()
        state = await phase.new_state() if phase.new_state is not None else secrets.token_urlsafe(32)
        params = {
            "response_type": "code",
            "client_id": client.client_id,
            "redirect_uri": str(redirect_uris[0]),
            "state": state,
            "code_challenge": pkce.code_challenge,
            "code_challenge_method": "S256",
        }
        if self.context.should_include_resource_param(self.context.protocol_version):
            params["resource"] = self.context.get_resource_url()
        scope = self.context.client_metadata.scope
        if scope:
            params["scope"] = scope
            if "offline_access" in scope.split():
                params["prompt"] = "consent"
        asm = self.context.oauth_metadata
        await phase.save(
            state,
            pkce.code_verifier,
            {
                "issuer": str(asm.issuer) if asm else None,
                "client_id": client.client_id,
                "resource": params.get("resource"),
                "scope": scope or "",
            },
        )
        raise AuthorizationRequired(f"{self._authorization_endpoint()}?{urlencode(params)}", state)

    def _complete(self, phase: Complete) -> tuple[str, str]:
        pending = phase.pending
        asm = self.context.oauth_metadata
        issuer = str(asm.issuer) if asm else None
        if issuer != pending.get("issuer"):
            raise PermissionDeniedError(
                f"{self.context.server_url} now names authorization server {issuer!r}, not {pending.get('issuer')!r} "
                "that was asked for consent; start the connection again"
            )
        client = self.context.client_info
        if client is None or client.client_id != pending.get("client_id"):
            raise PermissionDeniedError("the OAuth client registration changed during sign-in; start again")
        # RFC 9207: the response must come from the server the request went to (mix-up defence).
        validate_authorization_response_iss(phase.iss, asm)
        return phase.code, str(pending["verifier"])
