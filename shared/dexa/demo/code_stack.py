"""A complete code-workflow stack on loopback, for the offline demo and tests.

FakeGitHub (git http-backend over local bare repos + the REST subset) <- the real git proxy (FastAPI, uvicorn) <-
CodeSources with a real GitHub App: a generated key signs JWTs, the fake verifies them and mints installation
tokens, and both the proxy (git) and the PR provider (REST) use those tokens. Nothing here is mocked but GitHub.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI

from dexa.adapters.github import GitHubAppCredentials, GitHubProvider
from dexa.adapters.github.fake import FakeGitHub, new_app_key
from dexa.code.ports import PrGate, PrStager, SessionEmit, SideEffectRecorder
from dexa.code.sources import CodeSources
from dexa.core.ports import KeyValueStore
from dexa.gitproxy import SessionTokens, create_gitproxy_router
from dexa.testing.loopback import serve_asgi


@functools.cache
def _app_key() -> tuple[rsa.RSAPrivateKey, str]:
    # One generated App key per process: RSA key generation is the slowest part of starting a stack.
    return new_app_key()


@dataclass(slots=True, kw_only=True)
class LocalCodeStack:
    fake: FakeGitHub
    code: CodeSources
    credentials: GitHubAppCredentials
    github_url: str
    api_url: str

    @property
    def proxy_url(self) -> str:
        return f"{self.api_url}/git"


@contextlib.asynccontextmanager
async def local_code_stack(
    root: Path,
    *,
    repos: Mapping[str, Mapping[str, str]],
    kv: KeyValueStore,
    session_url: Callable[[str], str] = lambda sid: f"http://dexa.local/sessions/{sid}",
    record_side_effect: SideEffectRecorder | None = None,
    emit: SessionEmit | None = None,
    gate: PrGate | None = None,
    stager: PrStager | None = None,
) -> AsyncIterator[LocalCodeStack]:
    """Yields the running stack; `repos` maps `owner/name` to its initial files (committed on `main`)."""
    fake = FakeGitHub(root=root / "github")
    for name, files in repos.items():
        fake.add_repo(name, files)
    key, pem = _app_key()
    fake.use_app_key(key)
    tokens = SessionTokens([b"local-code-stack-signing-secret!"])
    async with contextlib.AsyncExitStack() as stack:
        github_url = await stack.enter_async_context(serve_asgi(fake.app()))
        fake.base_url = github_url
        http = await stack.enter_async_context(httpx.AsyncClient(timeout=60))
        credentials = GitHubAppCredentials(
            app_id=fake.app_id, private_key_pem=pem, http=http, api_url=f"{github_url}/api/v3"
        )
        app = FastAPI()
        app.include_router(
            create_gitproxy_router(
                tokens=tokens,
                credentials=credentials,
                kv=kv,
                upstream_url=github_url,
                http=http,
                cache_dir=root / "mirrors",
            )
        )
        api_url = await stack.enter_async_context(serve_asgi(app))
        provider = GitHubProvider(credentials, http, api_url=f"{github_url}/api/v3", web_url=github_url)
        code = CodeSources(
            kv=kv,
            tokens=tokens,
            proxy_url=f"{api_url}/git",
            provider=provider,
            staging_dir=root / "staging",
            session_url=session_url,
            record_side_effect=record_side_effect,
            emit=emit,
            gate=gate,
            stager=stager,
        )
        yield LocalCodeStack(fake=fake, code=code, credentials=credentials, github_url=github_url, api_url=api_url)
