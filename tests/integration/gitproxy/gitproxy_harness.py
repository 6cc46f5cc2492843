"""A real git stack on loopback: FakeGitHub (git http-backend over bare repos) <- Dexa git proxy <- git clients."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI

from dexa.adapters.git import run_git
from dexa.adapters.github import StaticTokenCredentials
from dexa.adapters.github.fake import FakeGitHub
from dexa.adapters.local_sandbox import LocalSandbox
from dexa.adapters.sqlite import SqliteStore
from dexa.code.repos import RepoSet
from dexa.code.transport import HostGitTransport, auth_env
from dexa.gitproxy import SessionTokens, create_gitproxy_router
from dexa.testing.loopback import serve_asgi

SECRET = b"test-signing-secret-0123456789abcdef"
SESSION_A = "ses_aaaa1111bbbb2222cccc"
SESSION_B = "ses_bbbb3333dddd4444eeee"
ORG = "org_test"
API_FILES = {"README.md": "# api\n", "api/contract.py": "FIELDS = ['id', 'name']\n"}
WEB_FILES = {"README.md": "# web\n", "web/types.py": "USER_KEYS = ('id', 'name')\n"}


@dataclass(slots=True)
class Stack:
    tmp: Path
    fake: FakeGitHub
    upstream_token: str
    store: SqliteStore
    tokens: SessionTokens
    github_url: str
    proxy_url: str

    def workspace(self, name: str) -> LocalSandbox:
        root = self.tmp / "ws" / name
        root.mkdir(parents=True, exist_ok=True)
        return LocalSandbox(str(root), state_dir=str(self.tmp / "state" / name))

    def repo_set(self, session_id: str, workspace: LocalSandbox, *, slug: str = "contract") -> RepoSet:
        return RepoSet(
            session_id=session_id,
            org_id=ORG,
            workspace=workspace,
            kv=self.store,
            transport=HostGitTransport(self.tmp / "staging" / session_id),
            mint_token=lambda sid, org: self.tokens.mint(session_id=sid, org_id=org),
            proxy_url=self.proxy_url,
            slug=slug,
        )

    def url(self, session_id: str, repo: str) -> str:
        return f"{self.proxy_url}/s/{session_id}/{repo}.git"

    def env(self, session_id: str, *, token: str | None = None) -> dict[str, str]:
        return auth_env(self.proxy_url, token or self.tokens.mint(session_id=session_id, org_id=ORG))

    async def git(self, cwd: Path | str, *args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
        code, out, err = await run_git(list(args), cwd=str(cwd), env=env)
        return code, out.decode() + err.decode()

    def upstream_sha(self, repo: str, branch: str) -> str | None:
        return self.fake.branch_sha(repo, branch)


@contextlib.asynccontextmanager
async def git_stack(tmp: Path, *, clock: list[float] | None = None) -> AsyncIterator[Stack]:
    fake = FakeGitHub(root=tmp / "github")
    fake.add_repo("acme/api", API_FILES)
    fake.add_repo("acme/web", WEB_FILES)
    fake.add_repo("acme/secret", {"SECRET.md": "not for session A\n"})
    upstream_token = fake.mint_token()
    store = SqliteStore(tmp / "db.sqlite")
    now = clock if clock is not None else [time.time()]
    tokens = SessionTokens([SECRET], ttl_s=600, clock=lambda: now[0])
    async with serve_asgi(fake.app()) as github_url:
        app = FastAPI()
        app.include_router(
            create_gitproxy_router(
                tokens=tokens,
                credentials=StaticTokenCredentials(token=upstream_token),
                kv=store,
                upstream_url=github_url,
                cache_dir=tmp / "mirrors",
            )
        )
        async with serve_asgi(app) as api_url:
            yield Stack(
                tmp=tmp,
                fake=fake,
                upstream_token=upstream_token,
                store=store,
                tokens=tokens,
                github_url=github_url,
                proxy_url=f"{api_url}/git",
            )
    store.close()
