"""The agent tools' error paths and the `/sessions/{id}/pull-requests` routes, over an in-memory forge."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from dexa.adapters.sqlite import SqliteStore
from dexa.api.deps import get_principal
from dexa.api.problems import handle_exception
from dexa.api.routers.pull_requests import create_pull_requests_router
from dexa.auth.models import Principal
from dexa.code import CodeSources
from dexa.code.ports import ForgePullRequest
from dexa.code.state import LinkedPR, LinkedPRSet, load_prs, save_prs
from dexa.code.tools import AddRepository, ListRepositories, OpenPullRequests
from dexa.core.errors import DexaError, NotFoundError
from dexa.core.session import Session
from dexa.core.tools import SessionState, ToolContext
from dexa.gitproxy import SessionTokens
from dexa.testing.fakes import DirWorkspace

SID, ORG = "ses_t00150000000000000000", "org_tools"


class MemoryForge:
    """A PullRequestProvider that remembers what it was asked to do."""

    name = "memory"

    def __init__(self) -> None:
        self.closed: list[tuple[str, int]] = []
        self.deleted: list[tuple[str, str]] = []
        self.comments: list[tuple[str, int, str]] = []

    def repo_url(self, repo: str) -> str:
        return f"https://forge.test/{repo}"

    async def default_branch(self, org_id: str, repo: str) -> str:
        return "main"

    async def find_open(self, org_id: str, repo: str, *, head: str) -> ForgePullRequest | None:
        return None

    async def create(
        self, org_id: str, repo: str, *, head: str, base: str, title: str, body: str, draft: bool = False
    ) -> ForgePullRequest:
        raise AssertionError("not used here")

    async def update_body(self, org_id: str, repo: str, number: int, body: str) -> ForgePullRequest:
        raise AssertionError("not used here")

    async def get(self, org_id: str, repo: str, number: int) -> ForgePullRequest:
        return ForgePullRequest(repo=repo, number=number, url="", status="merged", head="h", base="main")

    async def close(self, org_id: str, repo: str, number: int) -> ForgePullRequest:
        self.closed.append((repo, number))
        return ForgePullRequest(repo=repo, number=number, url="", status="closed", head="h", base="main")

    async def delete_branch(self, org_id: str, repo: str, branch: str) -> bool:
        self.deleted.append((repo, branch))
        return True

    async def comment(self, org_id: str, repo: str, number: int, body: str) -> str:
        self.comments.append((repo, number, body))
        return f"https://forge.test/{repo}/issues/{number}#c1"


def _code(tmp: Path, store: SqliteStore, forge: MemoryForge) -> CodeSources:
    return CodeSources(
        kv=store,
        tokens=SessionTokens([b"0123456789abcdef0123"]),
        proxy_url="http://127.0.0.1:9/git",
        provider=forge,
        staging_dir=tmp / "staging",
    )


def _ctx(tmp: Path, store: SqliteStore, services: dict[str, Any]) -> ToolContext:
    async def emit(type_: str, data: Any) -> None:
        return None

    ws = DirWorkspace(tmp)
    return ToolContext(
        session_id=SID,
        org_id=ORG,
        tool_use_id="tu_1",
        workspace=ws,
        state=SessionState(cwd=ws.root),
        emit=emit,
        kv=store,
        services=services,
    )


def test_tools_explain_bad_input_and_missing_configuration_instead_of_crashing(tmp_path: Path) -> None:
    async def main() -> None:
        store = SqliteStore(tmp_path / "db.sqlite")
        try:
            ctx = _ctx(tmp_path, store, {"code": _code(tmp_path, store, MemoryForge())})
            out = await AddRepository().run({"repo": "not a repo"}, ctx)
            assert out.is_error and "is not a repository" in out.content
            out = await AddRepository().run({"repo": "acme/api", "directory": "../escape"}, ctx)
            assert out.is_error and "outside the workspace" in out.content
            out = await AddRepository().run({"repo": "acme/api", "base": "bad..branch"}, ctx)
            assert out.is_error and "not a branch name" in out.content
            out = await ListRepositories().run({}, ctx)
            assert not out.is_error and "No repositories yet" in out.content
            out = await OpenPullRequests().run({"title": "x", "summary": "y"}, ctx)
            assert out.is_error and "no repository in this session has changes" in out.content
            bare = _ctx(tmp_path, store, {})
            try:
                await ListRepositories().run({}, bare)
            except Exception as exc:
                assert "not configured" in str(exc)
            else:
                raise AssertionError("expected a ToolError without code sources")
        finally:
            store.close()

    asyncio.run(main())


def test_a_clone_into_a_symlink_planted_in_the_workspace_is_refused(tmp_path: Path) -> None:
    async def main() -> None:
        store = SqliteStore(tmp_path / "db.sqlite")
        outside = tmp_path / "outside"
        outside.mkdir()
        ws = tmp_path / "ws"
        ws.mkdir()
        (ws / "evil").symlink_to(outside)
        try:
            ctx = _ctx(ws, store, {"code": _code(tmp_path, store, MemoryForge())})
            out = await AddRepository().run({"repo": "acme/api", "directory": "evil/api"}, ctx)
            assert out.is_error and "symbolic link" in out.content
            assert list(outside.iterdir()) == []
        finally:
            store.close()

    asyncio.run(main())


def _app(code: CodeSources, store: SqliteStore, tmp: Path) -> FastAPI:
    session = Session(id=SID, org_id=ORG, user_id="usr_1", cwd=str(tmp), model="scripted", created_at=time.time())

    class Ctx:
        audit_log: list[str] = []

        async def session(self, who: Principal, session_id: str) -> Session:
            if session_id != SID or who.org_id != ORG:
                raise NotFoundError(f"session {session_id} not found")
            return session

        class audit:
            @staticmethod
            async def append(who: Principal, action: str, target: str, detail: Any = None) -> None:
                Ctx.audit_log.append(action)

    async def workspace_for(_s: Session) -> DirWorkspace:
        return DirWorkspace(tmp)

    app = FastAPI()
    app.add_exception_handler(DexaError, handle_exception)  # the API's own error mapping
    app.state.dexa = Ctx()
    app.include_router(create_pull_requests_router(code, workspace_for))
    app.dependency_overrides[get_principal] = lambda: Principal(
        org_id=ORG, user_id="usr_1", role="admin", scopes=frozenset({"sessions:read", "sessions:write"})
    )
    return app


def test_pull_request_routes_show_refresh_and_close_the_session_set(tmp_path: Path) -> None:
    async def main() -> None:
        store = SqliteStore(tmp_path / "db.sqlite")
        forge = MemoryForge()
        code = _code(tmp_path, store, forge)
        app = _app(code, store, tmp_path)
        try:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://dexa.test") as client:
                missing = await client.get(f"/sessions/{SID}/pull-requests")
                assert missing.status_code == 404 and missing.json()["code"] == "no_pull_requests"
                assert (await client.get("/sessions/ses_other/pull-requests")).status_code == 404
                await save_prs(
                    store,
                    LinkedPRSet(
                        session_id=SID,
                        org_id=ORG,
                        title="t",
                        prs=(
                            LinkedPR(
                                repo="acme/api",
                                branch="dexa/t0015000-x",
                                base="main",
                                status="open",
                                number=3,
                                url="https://forge.test/acme/api/pull/3",
                            ),
                            LinkedPR(
                                repo="acme/web",
                                branch="dexa/t0015000-x",
                                base="main",
                                status="open",
                                number=9,
                                url="https://forge.test/acme/web/pull/9",
                            ),
                        ),
                    ),
                )
                listed = (await client.get(f"/sessions/{SID}/pull-requests")).json()
                assert listed["status"] == "open" and [p["number"] for p in listed["prs"]] == [3, 9]
                closed = await client.post(
                    f"/sessions/{SID}/pull-requests/close",
                    json={"repos": ["acme/web"], "comment": "Abandoned in Dexa."},
                )
                assert closed.status_code == 200
                assert [p["status"] for p in closed.json()["prs"]] == ["open", "closed"]
                assert forge.closed == [("acme/web", 9)] and forge.deleted == [("acme/web", "dexa/t0015000-x")]
                assert forge.comments == [("acme/web", 9, "Abandoned in Dexa.")]
                refreshed = (await client.get(f"/sessions/{SID}/pull-requests", params={"refresh": "true"})).json()
                assert [p["status"] for p in refreshed["prs"]] == ["merged", "merged"]
                assert refreshed["status"] == "merged"
            stored = await load_prs(store, SID, ORG)
            assert stored is not None and stored.status == "merged"
        finally:
            store.close()

    asyncio.run(main())
