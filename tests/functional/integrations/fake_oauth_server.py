"""A local OAuth 2.1 authorization server built on authlib's generic server, plus an MCP resource's PRM.

Served as an ASGI app through `httpx2.ASGITransport` (no sockets): authorization code with PKCE (required), refresh
tokens that rotate, RFC 9207 `iss` in the authorization response, RFC 8414 metadata, and a record of every
`resource` parameter it received so tests can check RFC 8707.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from authlib.oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import ClientMixin, OAuth2Request, grants
from authlib.oauth2.rfc6749.models import AuthorizationCodeMixin, TokenMixin
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from authlib.oauth2.rfc6750 import BearerTokenGenerator
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc9207 import IssuerParameter
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

RESOURCE = "https://mcp.test/mcp"


@dataclass
class Client(ClientMixin):
    client_id: str
    client_secret: str | None
    redirect_uris: list[str]

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str:
        return self.redirect_uris[0]

    def get_allowed_scope(self, scope: str) -> str:
        return scope

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        return client_secret == self.client_secret

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if endpoint != "token":
            return True
        return method == ("client_secret_post" if self.client_secret else "none")

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in ("authorization_code", "refresh_token")


@dataclass
class User:
    id: str

    def get_user_id(self) -> str:
        return self.id


@dataclass
class Code(AuthorizationCodeMixin):
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    code_challenge: str | None
    code_challenge_method: str | None

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_auth_time(self) -> None:
        return None

    def get_nonce(self) -> None:
        return None


@dataclass
class Token(TokenMixin):
    access_token: str
    refresh_token: str | None
    client_id: str
    scope: str
    expires_in: int
    revoked: bool = False

    def check_client(self, client: Client) -> bool:
        return client.client_id == self.client_id

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return self.expires_in

    def is_expired(self) -> bool:
        return False

    def is_revoked(self) -> bool:
        return self.revoked


class Reply:
    """What authlib's handle_response produces; the RFC 9207 extension rewrites `location`."""

    def __init__(self, status: int, body: Any, headers: list[tuple[str, str]]) -> None:
        self.status, self.body, self.headers = status, body, dict(headers)

    @property
    def location(self) -> str | None:
        return self.headers.get("Location")

    @location.setter
    def location(self, value: str) -> None:
        self.headers["Location"] = value

    def to_starlette(self) -> Response:
        body = self.body if isinstance(self.body, str) else json.dumps(self.body)
        return Response(body, status_code=self.status, headers=self.headers, media_type="application/json")


class FakeRequest(OAuth2Request):
    def __init__(self, method: str, uri: str, headers: dict[str, str], query: dict[str, str], form: dict[str, str]):
        super().__init__(method=method, uri=uri, headers=headers)
        self._query, self._form = query, form
        self.payload = BasicOAuth2Payload({**query, **form})

    @property
    def args(self) -> dict[str, str]:
        return self._query

    @property
    def form(self) -> dict[str, str]:
        return self._form


class CodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["none", "client_secret_post"]

    def save_authorization_code(self, code: str, request: Any) -> None:
        data = request.payload.data
        self.server.fake.codes[code] = Code(
            code=code,
            client_id=request.client.client_id,
            redirect_uri=data.get("redirect_uri", ""),
            scope=data.get("scope", ""),
            code_challenge=data.get("code_challenge"),
            code_challenge_method=data.get("code_challenge_method"),
        )

    def query_authorization_code(self, code: str, client: Client) -> Code | None:
        found = self.server.fake.codes.get(code)
        return found if found and found.client_id == client.client_id else None

    def delete_authorization_code(self, authorization_code: Code) -> None:
        self.server.fake.codes.pop(authorization_code.code, None)

    def authenticate_user(self, authorization_code: Code) -> User:
        return User("user-1")


class RefreshGrant(grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["none", "client_secret_post"]
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token: str) -> Token | None:
        token = self.server.fake.by_refresh.get(refresh_token)
        return token if token is not None and not token.revoked else None

    def authenticate_user(self, refresh_token: Token) -> User:
        return User("user-1")

    def revoke_old_credential(self, refresh_token: Token) -> None:
        refresh_token.revoked = True


class Issuer(IssuerParameter):
    def __init__(self, issuer: str) -> None:
        self.issuer = issuer

    def get_issuer(self) -> str:
        return self.issuer


class Server(AuthorizationServer):
    def __init__(self, fake: FakeAuthServer) -> None:
        super().__init__(scopes_supported=list(fake.scopes))
        self.fake = fake
        self.register_token_generator(
            "default",
            BearerTokenGenerator(
                access_token_generator=lambda **_: "at_" + secrets.token_hex(12),
                refresh_token_generator=lambda **_: "rt_" + secrets.token_hex(12),
                expires_generator=lambda client, grant_type: fake.expires_in,
            ),
        )
        self.register_grant(CodeGrant, [CodeChallenge(required=True)])
        self.register_grant(RefreshGrant)
        self.register_extension(Issuer(fake.response_issuer or fake.issuer))

    def create_oauth2_request(self, request: Any) -> OAuth2Request:
        return request  # routes already build an OAuth2Request

    def query_client(self, client_id: str) -> Client | None:
        return self.fake.clients.get(client_id)

    def save_token(self, token: dict[str, Any], request: Any) -> None:
        record = Token(
            access_token=token["access_token"],
            refresh_token=token.get("refresh_token"),
            client_id=request.client.client_id,
            scope=token.get("scope", ""),
            expires_in=int(token.get("expires_in", 0)),
        )
        self.fake.tokens.append(record)
        if record.refresh_token:
            self.fake.by_refresh[record.refresh_token] = record

    def handle_response(self, status: int, body: Any, headers: list[tuple[str, str]]) -> Reply:
        return Reply(status, body, headers)

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        return None


@dataclass
class FakeAuthServer:
    issuer: str = "https://auth.test"
    # What the metadata document claims (set to another URL to simulate a mix-up / impostor AS).
    metadata_issuer: str | None = None
    # What `iss` the authorization response carries (RFC 9207).
    response_issuer: str | None = None
    expires_in: int = 3600
    # What the server grants (a vendor's own scopes when it stands in for Google or Microsoft).
    scopes: tuple[str, ...] = ("mcp:read", "mcp:write", "offline_access")
    clients: dict[str, Client] = field(default_factory=dict)
    codes: dict[str, Code] = field(default_factory=dict)
    tokens: list[Token] = field(default_factory=list)
    by_refresh: dict[str, Token] = field(default_factory=dict)
    authorize_requests: list[dict[str, str]] = field(default_factory=list)
    token_requests: list[dict[str, str]] = field(default_factory=list)

    def add_client(self, client_id: str, redirect_uri: str, secret: str | None = None) -> None:
        self.clients[client_id] = Client(client_id=client_id, client_secret=secret, redirect_uris=[redirect_uri])

    def revoke_all(self) -> None:
        for token in self.tokens:
            token.revoked = True

    def app(self) -> Starlette:
        server = Server(self)

        async def metadata(request: Request) -> JSONResponse:
            return JSONResponse(
                {
                    "issuer": self.metadata_issuer or self.issuer,
                    "authorization_endpoint": f"{self.issuer}/authorize",
                    "token_endpoint": f"{self.issuer}/token",
                    "code_challenge_methods_supported": ["S256"],
                    "response_types_supported": ["code"],
                    "grant_types_supported": ["authorization_code", "refresh_token"],
                    "authorization_response_iss_parameter_supported": True,
                    "scopes_supported": ["mcp:read", "mcp:write", "offline_access"],
                }
            )

        async def prm(request: Request) -> JSONResponse:
            return JSONResponse(
                {
                    "resource": RESOURCE,
                    "authorization_servers": [self.issuer],
                    "scopes_supported": ["mcp:read", "mcp:write"],
                }
            )

        async def authorize(request: Request) -> Response:
            query = dict(request.query_params)
            self.authorize_requests.append(query)
            req = FakeRequest("GET", str(request.url), dict(request.headers), query, {})
            grant = server.get_authorization_grant(req)
            reply = server.create_authorization_response(req, grant_user=User("user-1"), grant=grant)
            return reply.to_starlette()

        async def token(request: Request) -> Response:
            form = dict(parse_qsl((await request.body()).decode()))
            self.token_requests.append(form)
            req = FakeRequest("POST", str(request.url), dict(request.headers), {}, form)
            return server.create_token_response(req).to_starlette()

        return Starlette(
            routes=[
                Route("/.well-known/oauth-authorization-server", metadata),
                Route("/.well-known/oauth-protected-resource/mcp", prm),
                Route("/authorize", authorize),
                Route("/token", token, methods=["POST"]),
            ]
        )
