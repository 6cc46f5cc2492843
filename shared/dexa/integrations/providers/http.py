"""A small REST client for the real providers: a credential from the vault, vendor errors mapped to Dexa errors."""

from __future__ import annotations

import base64
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import httpx

from dexa.core.errors import NotFoundError, PermissionDeniedError, ToolError

logger = logging.getLogger(__name__)

# Returns a valid access token (the OAuth service refreshes it ahead of expiry).
TokenFn = Callable[[], Awaitable[str]]


class RestClient:
    def __init__(
        self,
        base_url: str,
        token: TokenFn,
        *,
        vendor: str,
        http: httpx.AsyncClient | None = None,
        timeout_s: float = 30.0,
        basic_user: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.vendor = vendor
        self._http = http or httpx.AsyncClient(timeout=timeout_s)
        self._owns = http is None
        # Set for vendors whose API keys are HTTP Basic passwords (Zendesk: `{email}/token`); else a bearer token.
        self.basic_user = basic_user
        # Sent with every request (e.g. Graph's Prefer: outlook.timezone, so times come back in UTC).
        self.headers = dict(headers or {})

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: Mapping[str, str] | None = None,
    ) -> Any:
        """Send one request; returns the decoded JSON body.

        Raises:
            PermissionDeniedError: 401/403 (the integration needs reconnecting or more scopes).
            NotFoundError: 404.
            ToolError: any other failure, with the vendor's message.
        """
        url = path if path.startswith("http") else f"{self.base_url}{path}"
        headers = {**self.headers, "Authorization": await self._authorization(), "Accept": "application/json"}
        clean = {k: v for k, v in (params or {}).items() if v is not None}
        try:
            # params=None, not {}: an empty mapping would strip the query of a full next-page URL (Graph's nextLink).
            response = await self._http.request(
                method, url, params=clean or None, json=json, data=data, headers=headers
            )
        except httpx.HTTPError as exc:
            raise ToolError(f"{self.vendor}: request failed ({type(exc).__name__}: {exc})") from exc
        if response.status_code in (401, 403):
            raise PermissionDeniedError(
                f"{self.vendor} refused the request ({response.status_code}): "
                f"{_message(response)}; reconnect the integration or grant the scope"
            )
        if response.status_code == 404:
            raise NotFoundError(f"{self.vendor}: {method} {path} not found")
        if response.status_code == 429:
            raise ToolError(f"{self.vendor} rate limit hit; retry after {response.headers.get('Retry-After', '?')}s")
        if response.status_code >= 400:
            raise ToolError(f"{self.vendor} error {response.status_code}: {_message(response)}")
        if not response.content:
            return {}
        return response.json()

    async def _authorization(self) -> str:
        secret = await self.token()
        if self.basic_user is None:
            return f"Bearer {secret}"
        return "Basic " + base64.b64encode(f"{self.basic_user}:{secret}".encode()).decode()

    async def aclose(self) -> None:
        if self._owns:
            await self._http.aclose()


def _message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(body, dict):
        error = body.get("error")  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]
        if isinstance(error, dict):
            return str(error.get("message", error))  # pyright: ignore[reportUnknownMemberType, reportUnknownArgumentType]
        return str(body.get("message") or error or body.get("description") or body)[:200]  # pyright: ignore[reportUnknownMemberType, reportUnknownArgumentType]
    return str(body)[:200]  # pyright: ignore[reportUnknownArgumentType]
