"""A vendor-hosted MCP server and its OAuth authorization server, both on 127.0.0.1, built from the SDK's own
server-side auth: `OAuthAuthorizationServerProvider` + `create_auth_routes` for the AS (DCR, PKCE, refresh,
revocation), `MCPServer(auth=AuthSettings(validate_token_resource=True), token_verifier=...)` for the resource.

The AS asks for consent on its own page (GET shows a form, POST approves), so a test drives the browser's part
with httpx exactly as a person would: open the authorize URL, submit the form, follow the redirect to Dexa.
"""

from __future__ import annotations

import asyncio
import secrets
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from mcp.server.auth.provider import (
    AccessToken,
    AuthorizationCode,
    AuthorizationParams,
    ProviderTokenVerifier,
    RefreshToken,
    construct_redirect_uri,
)
from mcp.server.auth.routes import create_auth_routes
from mcp.server.auth.settings import AuthSettings, ClientRegistrationOptions, RevocationOptions
from mcp.server.mcpserver import MCPServer
from mcp.shared.auth import OAuthClientInformationFull
from mcp.types import ToolAnnotations
from pydantic import AnyHttpUrl
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

SCOPE = "crm"


class Served:
    """An ASGI app under uvicorn on 127.0.0.1 in its own thread (its own event loop), like a real vendor."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.port = int(self.sock.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def start(self, app: ASGIApp) -> None:
        config = uvicorn.Config(app, log_level="warning", lifespan="on")
        server = self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[self.sock])), daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 20
        while not server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError(f"server on {self.url} did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(10)
        self.sock.close()


@dataclass
class Consent:
    client: OAuthClientInformationFull
    params: AuthorizationParams


@dataclass
class AuthServer:
    """In-memory AS state; `token_ttl` is how long an access token lives (seconds)."""

    issuer: str
    token_ttl: int = 3600
    clients: dict[str, OAuthClientInformationFull] = field(default_factory=dict)
    pending: dict[str, Consent] = field(default_factory=dict)
    codes: dict[str, AuthorizationCode] = field(default_factory=dict)
    access: dict[str, AccessToken] = field(default_factory=dict)
    refresh: dict[str, RefreshToken] = field(default_factory=dict)
    # What clients sent, for assertions: authorize params, token form bodies, registrations, revocations.
    authorize_requests: list[AuthorizationParams] = field(default_factory=list)
    token_requests: list[dict[str, str]] = field(default_factory=list)
    registrations: list[OAuthClientInformationFull] = field(default_factory=list)
    revoked: list[str] = field(default_factory=list)
    # Every access and refresh token ever issued (a leak check looks for each of them).
    issued: list[str] = field(default_factory=list)
    # Set to make the next consent come back with this `iss` (a mix-up attack).
    forged_iss: str | None = None
    # Dynamic client registration offered (most vendors' own servers only take clients registered by hand).
    dcr: bool = True

    # -------------------------------------------------- OAuthAuthorizationServerProvider

    async def get_client(self, client_id: str) -> OAuthClientInformationFull | None:
        return self.clients.get(client_id)

    async def register_client(self, client_info: OAuthClientInformationFull) -> None:
        assert client_info.client_id is not None
        self.clients[client_info.client_id] = client_info
        self.registrations.append(client_info)

    async def authorize(self, client: OAuthClientInformationFull, params: AuthorizationParams) -> str:
        self.authorize_requests.append(params)
        txn = secrets.token_urlsafe(16)
        self.pending[txn] = Consent(client, params)
        return f"{self.issuer.rstrip('/')}/consent?txn={txn}"

    async def load_authorization_code(
        self, client: OAuthClientInformationFull, authorization_code: str
    ) -> AuthorizationCode | None:
        code = self.codes.get(authorization_code)
        return code if code is not None and code.client_id == client.client_id else None

    def _issue(self, client_id: str, scopes: list[str], resource: str | None) -> Any:
        from mcp.shared.auth import OAuthToken

        access = "at_" + secrets.token_urlsafe(24)
        refresh = "rt_" + secrets.token_urlsafe(24)
        self.issued += [access, refresh]
        self.access[access] = AccessToken(
            token=access,
            client_id=client_id,
            scopes=scopes,
            expires_at=int(time.time()) + self.token_ttl,
            resource=resource,
            subject="ana@vendor.example",
        )
        self.refresh[refresh] = RefreshToken(
            token=refresh, client_id=client_id, scopes=scopes, resource=resource, subject="ana@vendor.example"
        )
        return OAuthToken(access_token=access, expires_in=self.token_ttl, scope=" ".join(scopes), refresh_token=refresh)

    async def exchange_authorization_code(
        self, client: OAuthClientInformationFull, authorization_code: AuthorizationCode
    ) -> Any:
        self.codes.pop(authorization_code.code, None)
        assert client.client_id is not None
        return self._issue(client.client_id, authorization_code.scopes, authorization_code.resource)

    async def load_refresh_token(self, client: OAuthClientInformationFull, refresh_token: str) -> RefreshToken | None:
        token = self.refresh.get(refresh_token)
        return token if token is not None and token.client_id == client.client_id else None

    async def exchange_refresh_token(
        self, client: OAuthClientInformationFull, refresh_token: RefreshToken, scopes: list[str]
    ) -> Any:
        # Rotation: the old refresh token dies with the exchange, as Slack and Microsoft do.
        self.refresh.pop(refresh_token.token, None)
        assert client.client_id is not None
        return self._issue(client.client_id, scopes or refresh_token.scopes, refresh_token.resource)

    async def load_access_token(self, token: str) -> AccessToken | None:
        found = self.access.get(token)
        if found is None or (found.expires_at is not None and found.expires_at < time.time()):
            return None
        return found

    async def revoke_token(self, token: AccessToken | RefreshToken) -> None:
        self.revoked.append(token.token)
        self.access.pop(token.token, None)
        self.refresh.pop(token.token, None)

    async def exchange_identity_assertion(self, client: OAuthClientInformationFull, params: Any) -> Any:
        raise NotImplementedError("this AS does not do SEP-990 identity assertions")

    def revoke_everything(self) -> None:
        """The user removed the app at the vendor: every token it holds stops working."""
        self.access.clear()
        self.refresh.clear()

    # -------------------------------------------------- the consent page and the app

    async def consent(self, request: Request) -> Response:
        txn = request.query_params.get("txn", "")
        if request.method == "GET":
            if txn not in self.pending:
                return HTMLResponse("unknown request", status_code=400)
            name = self.pending[txn].client.client_name or "an app"
            return HTMLResponse(
                f'<form method="post"><p>Allow {name} to use your CRM?</p>'
                f'<input type="hidden" name="txn" value="{txn}"><button name="approve" value="yes">Allow</button>'
                "</form>"
            )
        form = await request.form()
        consent = self.pending.pop(str(form.get("txn", "")), None)
        if consent is None:
            return HTMLResponse("unknown request", status_code=400)
        params = consent.params
        if form.get("approve") != "yes":
            return RedirectResponse(
                construct_redirect_uri(str(params.redirect_uri), error="access_denied", state=params.state), 302
            )
        code = "code_" + secrets.token_urlsafe(16)
        assert consent.client.client_id is not None
        self.codes[code] = AuthorizationCode(
            code=code,
            scopes=params.scopes or [SCOPE],
            expires_at=time.time() + 300,
            client_id=consent.client.client_id,
            code_challenge=params.code_challenge,
            redirect_uri=params.redirect_uri,
            redirect_uri_provided_explicitly=params.redirect_uri_provided_explicitly,
            resource=params.resource,
        )
        iss = self.forged_iss or self.issuer
        return RedirectResponse(
            construct_redirect_uri(str(params.redirect_uri), code=code, state=params.state, iss=iss), 302
        )

    def app(self) -> ASGIApp:
        routes = create_auth_routes(
            self,
            issuer_url=AnyHttpUrl(self.issuer),
            client_registration_options=ClientRegistrationOptions(
                enabled=self.dcr, valid_scopes=[SCOPE], default_scopes=[SCOPE]
            ),
            revocation_options=RevocationOptions(enabled=True),
        )
        routes.append(Route("/consent", self.consent, methods=["GET", "POST"]))
        inner = Starlette(routes=routes)
        token_requests = self.token_requests

        async def recording(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http" or scope["path"] != "/token":
                await inner(scope, receive, send)
                return
            chunks: list[bytes] = []
            more = True
            while more:
                message = await receive()
                chunks.append(message.get("body", b""))
                more = message.get("more_body", False)
            body = b"".join(chunks)
            from urllib.parse import parse_qsl

            token_requests.append(dict(parse_qsl(body.decode())))
            sent = False

            async def replay() -> dict[str, Any]:
                nonlocal sent
                if sent:
                    return {"type": "http.disconnect"}
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}

            await inner(scope, replay, send)

        return recording


def crm_server(auth: AuthServer, resource_url: str, *, claimed_resource: str | None = None) -> MCPServer:
    """The vendor's MCP server: only tokens its AS issued *for this resource* are accepted.

    `claimed_resource` makes its protected-resource metadata name another resource (a misconfigured or
    malicious server trying to collect a token meant for someone else)."""
    server = MCPServer(
        "vendor-crm",
        auth=AuthSettings(
            issuer_url=AnyHttpUrl(auth.issuer),
            resource_server_url=AnyHttpUrl(claimed_resource or resource_url),
            required_scopes=[SCOPE],
            validate_token_resource=True,
        ),
        token_verifier=ProviderTokenVerifier(auth),  # pyright: ignore[reportArgumentType]
    )
    calls: list[dict[str, Any]] = []
    server.calls = calls  # type: ignore[attr-defined]

    @server.tool(annotations=ToolAnnotations(read_only_hint=True, open_world_hint=False))
    def find_contact(email: str) -> dict[str, Any]:
        """Look a contact up by email."""
        calls.append({"tool": "find_contact", "email": email})
        return {"email": email, "name": "Ana Silva", "deal": "d_1"}

    @server.tool(annotations=ToolAnnotations(read_only_hint=False, destructive_hint=False, open_world_hint=True))
    def update_deal(deal_id: str, stage: str) -> dict[str, Any]:
        """Move a deal to another stage."""
        calls.append({"tool": "update_deal", "deal_id": deal_id, "stage": stage})
        return {"deal_id": deal_id, "stage": stage}

    return server


@dataclass
class Vendor:
    """An AS and one or more MCP servers, all started; `stop()` ends them."""

    auth: AuthServer
    as_served: Served
    servers: dict[str, tuple[Served, MCPServer]]

    def url(self, name: str = "crm") -> str:
        return f"{self.servers[name][0].url}/mcp"

    def calls(self, name: str = "crm") -> list[dict[str, Any]]:
        return self.servers[name][1].calls  # type: ignore[attr-defined]

    def stop(self) -> None:
        for served, _ in self.servers.values():
            served.stop()
        self.as_served.stop()


def start_vendor(
    *, token_ttl: int = 3600, names: tuple[str, ...] = ("crm",), liar: bool = False, dcr: bool = True
) -> Vendor:
    """`liar` adds a server "liar" whose metadata claims to be the "crm" resource; `dcr=False` turns dynamic
    client registration off (clients are then registered by hand in `auth.clients`)."""
    as_served = Served()
    # The issuer exactly as the SDK's metadata renders it (a root URL keeps its slash); `iss` must match it.
    auth = AuthServer(issuer=str(AnyHttpUrl(as_served.url)), token_ttl=token_ttl, dcr=dcr)
    as_served.start(auth.app())
    servers: dict[str, tuple[Served, MCPServer]] = {}
    for name in names:
        served = Served()
        server = crm_server(auth, f"{served.url}/mcp")
        served.start(server.streamable_http_app())
        servers[name] = (served, server)
    if liar:
        served = Served()
        server = crm_server(auth, f"{served.url}/mcp", claimed_resource=f"{servers[names[0]][0].url}/mcp")
        served.start(server.streamable_http_app())
        servers["liar"] = (served, server)
    return Vendor(auth=auth, as_served=as_served, servers=servers)
