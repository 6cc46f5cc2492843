"""The git smart-HTTP proxy as a FastAPI router: the only way a workspace reaches a forge's git.

    GET  {prefix}/s/{session_id}/{owner}/{name}.git/info/refs?service=git-upload-pack|git-receive-pack
    POST {prefix}/s/{session_id}/{owner}/{name}.git/git-upload-pack      clone / fetch
    POST {prefix}/s/{session_id}/{owner}/{name}.git/git-receive-pack     push (policed)

The sandbox authenticates with its short-lived session token (HTTP Basic password, any user name, or Bearer).
The proxy checks the token, that the repo is attached to that session, and for pushes that every ref is one of
the session's own branches, is not deleted and fast-forwards. Only then does it forward, with the real
installation token in place of the sandbox's credential. Errors are text/plain, which git shows as `remote: ...`.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import logging
import zlib
from collections.abc import Awaitable, Callable, Collection
from pathlib import Path

import httpx
from fastapi import APIRouter, Request
from starlette.responses import PlainTextResponse, Response

from dexa.code.naming import parse_repo
from dexa.code.ports import CredentialSource
from dexa.code.state import load_repos
from dexa.code.tokens import SessionClaims, SessionTokens
from dexa.core.errors import ConfigError, DexaError, NotFoundError, PermissionDeniedError, ToolInputError
from dexa.core.ports import KeyValueStore

from .pktline import parse_receive_pack, report_status
from .policy import AncestryChecker, ref_refusals
from .upstream import Upstream, basic_auth_header

logger = logging.getLogger(__name__)

SessionRepos = Callable[[str, str], Awaitable[Collection[str]]]
SERVICES = ("git-upload-pack", "git-receive-pack")
MAX_PUSH_BYTES = 512 * 1024 * 1024
MAX_FETCH_REQUEST_BYTES = 64 * 1024 * 1024


def kv_session_repos(kv: KeyValueStore) -> SessionRepos:
    """The repos attached to a session, from the "repos" document RepoSet keeps."""

    async def repos(session_id: str, org_id: str) -> Collection[str]:
        state = await load_repos(kv, session_id, org_id)
        return set() if state is None else {r.repo.lower() for r in state.repos}

    return repos


def _text(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return PlainTextResponse(message.rstrip("\n") + "\n", status_code=status, headers=headers)


def _credential(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer":
        return value.strip() or None
    if scheme.lower() == "basic":
        try:
            _, _, password = base64.b64decode(value.strip()).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return password or None
    return None


async def _body(request: Request, limit: int, *, inflate: bool = True) -> bytes:
    """The request body (inflated when git gzipped it, unless `inflate` is off), read at most `limit` bytes at a
    time into memory. Raises ToolInputError past the limit."""
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ToolInputError(f"request body exceeds the proxy's {limit // (1024 * 1024)} MiB limit")
        chunks.append(chunk)
    raw = b"".join(chunks)
    if inflate and request.headers.get("content-encoding", "").lower() in ("gzip", "x-gzip"):
        try:
            raw = gzip.decompress(raw)
        except (OSError, zlib.error, EOFError) as exc:
            raise ToolInputError("request body is not valid gzip") from exc
        if len(raw) > limit:
            raise ToolInputError(f"request body exceeds the proxy's {limit // (1024 * 1024)} MiB limit")
    return raw


class GitProxy:
    def __init__(
        self,
        *,
        tokens: SessionTokens,
        session_repos: SessionRepos,
        credentials: CredentialSource,
        upstream: Upstream,
        ancestry: AncestryChecker,
        max_push_bytes: int = MAX_PUSH_BYTES,
    ) -> None:
        self.tokens = tokens
        self.session_repos = session_repos
        self.credentials = credentials
        self.upstream = upstream
        self.ancestry = ancestry
        self.max_push_bytes = max_push_bytes

    async def _authorise(self, token: str, session_id: str, owner: str, name: str) -> tuple[SessionClaims, str]:
        claims = self.tokens.verify(token)
        if claims.session_id != session_id:
            raise PermissionDeniedError("this git token belongs to another session", code="wrong_session")
        repo = parse_repo(f"{owner}/{name.removesuffix('.git')}")
        if repo.lower() not in await self.session_repos(session_id, claims.org_id):
            raise PermissionDeniedError(f"repository {repo} is not attached to this session", code="repo_not_attached")
        return claims, repo

    async def handle(self, request: Request, session_id: str, owner: str, name: str, path: str) -> Response:
        token = _credential(request)
        if token is None:
            # git retries with credentials after a challenge; the sandbox has none to offer, so this ends there.
            return _text(
                401, "Dexa git proxy: authentication required", {"WWW-Authenticate": 'Basic realm="Dexa git proxy"'}
            )
        try:
            claims, repo = await self._authorise(token, session_id, owner, name)
            upstream_token, _ = await self.credentials.installation_token(claims.org_id, repo)
            auth = basic_auth_header(upstream_token)
            if path == "info/refs":
                service = request.query_params.get("service", "")
                if service not in SERVICES:
                    return _text(403, "the Dexa git proxy speaks the smart HTTP protocol only")
                return await self.upstream.forward(
                    method="GET",
                    repo=repo,
                    path=path,
                    query=f"service={service}",
                    headers=request.headers,
                    body=b"",
                    auth_header=auth,
                )
            if path == "git-upload-pack":
                raw = await _body(request, MAX_FETCH_REQUEST_BYTES, inflate=False)  # forwarded as git sent it
                return await self.upstream.forward(
                    method="POST", repo=repo, path=path, query="", headers=request.headers, body=raw, auth_header=auth
                )
            return await self._push(request, claims, repo, auth)
        except NotFoundError as exc:
            return _text(404, f"Dexa git proxy: {exc.message}")
        except (PermissionDeniedError, ToolInputError) as exc:
            logger.info("git proxy refused %s %s/%s for session %s: %s", path, owner, name, session_id, exc.message)
            return _text(403, f"Dexa git proxy: {exc.message}")
        except DexaError as exc:
            logger.warning("git proxy failed %s %s/%s for session %s: %s", path, owner, name, session_id, exc.message)
            return _text(502, f"Dexa git proxy: {exc.message}")

    async def _push(self, request: Request, claims: SessionClaims, repo: str, auth: str) -> Response:
        body = await _body(request, self.max_push_bytes)
        parsed = parse_receive_pack(body)
        if parsed.push_cert:
            refusals = {u.ref: "signed pushes are not supported by the Dexa git proxy" for u in parsed.updates}
        else:
            refusals = ref_refusals(parsed.updates, session_id=claims.session_id)
        if not refusals and any(not u.is_create for u in parsed.updates):
            # Only updates can rewrite history. A create needs no check: receive-pack itself refuses to "create" a
            # ref that already exists, so an existing branch's history survives either way.
            refusals = await self.ancestry.refusals(
                key=f"{claims.org_id}/{repo}",
                upstream_url=self.upstream.repo_url(repo),
                auth_header=f"Authorization: {auth}",
                updates=parsed.updates,
                pack=parsed.pack,
            )
        refs = ", ".join(u.ref for u in parsed.updates) or "(none)"
        if refusals:
            logger.info("push refused for session %s on %s: %s", claims.session_id, repo, refusals)
            if not ({"report-status", "report-status-v2"} & parsed.capabilities):
                return _text(403, "Dexa git proxy: " + "; ".join(f"{k}: {v}" for k, v in refusals.items()))
            message = "\n".join(f"refused {ref}: {why}" for ref, why in refusals.items())
            return Response(
                report_status(refusals, parsed.updates, parsed.capabilities, message),
                media_type="application/x-git-receive-pack-result",
                headers={"Cache-Control": "no-cache"},
            )
        logger.info("push allowed for session %s on %s: %s", claims.session_id, repo, refs)
        return await self.upstream.forward(
            method="POST",
            repo=repo,
            path="git-receive-pack",
            query="",
            headers={k: v for k, v in request.headers.items() if k.lower() != "content-encoding"},
            body=body,
            auth_header=auth,
        )


def create_gitproxy_router(
    *,
    tokens: SessionTokens,
    credentials: CredentialSource,
    kv: KeyValueStore | None = None,
    session_repos: SessionRepos | None = None,
    upstream_url: str = "https://github.com",
    http: httpx.AsyncClient | None = None,
    cache_dir: Path | None = None,
    ancestry: AncestryChecker | None = None,
    prefix: str = "/git",
    max_push_bytes: int = MAX_PUSH_BYTES,
) -> APIRouter:
    """The git proxy routes, to mount on the Dexa API app (`extra_routers`).

    Args:
        tokens: verifies the sandbox's session tokens (the same SessionTokens the RepoSet mints with).
        credentials: the real credential per (org, repo), e.g. GitHubAppCredentials.
        kv: where RepoSet records each session's repos (the runtime store); or pass `session_repos`.
        upstream_url: the git host (`https://github.com`; a local git host in tests).
        http: client for upstream calls (default: a new one with a 300 s timeout).
        cache_dir: where the mirrors used for force-push detection live; or pass `ancestry`.
        prefix: mount point; the workspace remote is `{api base}{prefix}/s/{session_id}/{owner}/{name}.git`.

    Raises:
        ConfigError: neither `kv` nor `session_repos`, or neither `cache_dir` nor `ancestry`, was given.
    """
    if session_repos is None:
        if kv is None:
            raise ConfigError("create_gitproxy_router needs kv (the runtime store) or session_repos")
        session_repos = kv_session_repos(kv)
    if ancestry is None:
        if cache_dir is None:
            raise ConfigError("create_gitproxy_router needs cache_dir (mirrors for force-push checks) or ancestry")
        ancestry = AncestryChecker(cache_dir)
    client = http or httpx.AsyncClient(timeout=httpx.Timeout(300.0, connect=10.0))
    proxy = GitProxy(
        tokens=tokens,
        session_repos=session_repos,
        credentials=credentials,
        upstream=Upstream(client, upstream_url),
        ancestry=ancestry,
        max_push_bytes=max_push_bytes,
    )
    router = APIRouter(prefix=prefix, tags=["git"], include_in_schema=False)

    @router.get("/s/{session_id}/{owner}/{name}/info/refs")
    async def git_info_refs(request: Request, session_id: str, owner: str, name: str) -> Response:
        return await proxy.handle(request, session_id, owner, name, "info/refs")

    @router.post("/s/{session_id}/{owner}/{name}/{service}")
    async def git_service(request: Request, session_id: str, owner: str, name: str, service: str) -> Response:
        if service not in SERVICES:
            return _text(404, f"Dexa git proxy: unknown git service {service!r}")
        return await proxy.handle(request, session_id, owner, name, service)

    return router
