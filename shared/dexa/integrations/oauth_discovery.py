"""OAuth authorization servers of the managed providers: their static endpoints, or RFC 8414 / OIDC metadata.

The metadata is checked as RFC 8414 §3.3 requires (its `issuer` equals the issuer it was fetched for) and the AS
must support PKCE S256. Vendor-hosted MCP servers are discovered by the `mcp` SDK instead (integrations.remote).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx2

from dexa.core.errors import PermissionDeniedError, ToolError


@dataclass(frozen=True, slots=True, kw_only=True)
class AuthServer:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    code_challenge_methods: tuple[str, ...] = ("S256",)
    iss_parameter_supported: bool = False
    scopes_supported: tuple[str, ...] = ()
    # Extra query parameters the provider needs on the authorize request (Google's access_type=offline).
    extra_params: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": self.authorization_endpoint,
            "token_endpoint": self.token_endpoint,
            "code_challenge_methods": list(self.code_challenge_methods),
            "iss_parameter_supported": self.iss_parameter_supported,
            "scopes_supported": list(self.scopes_supported),
            "extra_params": self.extra_params,
        }

    @staticmethod
    def from_dict(data: Mapping[str, Any]) -> AuthServer:
        return AuthServer(
            issuer=str(data["issuer"]),
            authorization_endpoint=str(data["authorization_endpoint"]),
            token_endpoint=str(data["token_endpoint"]),
            code_challenge_methods=tuple(data.get("code_challenge_methods") or ("S256",)),
            iss_parameter_supported=bool(data.get("iss_parameter_supported", False)),
            scopes_supported=tuple(data.get("scopes_supported") or ()),
            extra_params=dict(data.get("extra_params") or {}),
        )


def canonical_resource(url: str) -> str:
    """RFC 8707 canonical URI: lowercase scheme and host, no fragment, no trailing slash."""
    parts = urlsplit(url)
    path = parts.path.rstrip("/")
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), path, parts.query, ""))


def _well_known(url: str, suffix: str) -> list[str]:
    parts = urlsplit(url)
    origin = f"{parts.scheme}://{parts.netloc}"
    path = parts.path.rstrip("/")
    urls = [f"{origin}/.well-known/{suffix}{path}"] if path else []
    return [*urls, f"{origin}/.well-known/{suffix}"]


async def _get_json(http: httpx2.AsyncClient, url: str) -> dict[str, Any] | None:
    try:
        response = await http.get(url, headers={"Accept": "application/json"})
    except httpx2.HTTPError as exc:
        raise ToolError(f"OAuth discovery: cannot reach {url} ({type(exc).__name__})") from exc
    if response.status_code != 200:
        return None
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None  # pyright: ignore[reportUnknownVariableType]


async def authorization_server(http: httpx2.AsyncClient, issuer: str) -> AuthServer:
    """Fetch and check AS metadata. Raises PermissionDeniedError on an issuer mismatch or no S256."""
    candidates = [
        *_well_known(issuer, "oauth-authorization-server"),
        issuer.rstrip("/") + "/.well-known/openid-configuration",
    ]
    for url in candidates:
        doc = await _get_json(http, url)
        if doc is None:
            continue
        if str(doc.get("issuer", "")) != issuer:
            raise PermissionDeniedError(
                f"authorization server metadata at {url} claims issuer "
                f"{doc.get('issuer')!r}, expected {issuer!r} (RFC 8414 §3.3); refusing"
            )
        methods = tuple(doc.get("code_challenge_methods_supported") or ())
        if "S256" not in methods:
            raise PermissionDeniedError(f"authorization server {issuer} does not advertise PKCE S256; refusing")
        return AuthServer(
            issuer=issuer,
            authorization_endpoint=str(doc["authorization_endpoint"]),
            token_endpoint=str(doc["token_endpoint"]),
            code_challenge_methods=methods,
            iss_parameter_supported=bool(doc.get("authorization_response_iss_parameter_supported", False)),
            scopes_supported=tuple(doc.get("scopes_supported") or ()),
        )
    raise ToolError(f"no authorization server metadata found for issuer {issuer}")
