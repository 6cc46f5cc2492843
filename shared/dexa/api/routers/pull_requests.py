"""`/sessions/{id}/pull-requests`: see, open (push + linked PRs) and close a session's pull requests.

Mounted through dexa.api.code_routes on the app dexa.server_app builds when the runtime has code sources (a GitHub
App or token). It uses the API's own auth dependencies, so keys, scopes and org isolation behave like every other
route. It lives with the API, not in dexa.code, because a feature never imports a surface.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from dexa.api.deps import Ctx, Reader, Writer, problems
from dexa.code.sources import CodeSources
from dexa.core.errors import ConflictError, NotFoundError
from dexa.core.ports import Workspace
from dexa.core.session import Session

WorkspaceFor = Callable[[Session], Awaitable[Workspace]]


class PullRequestsCreate(BaseModel):
    title: str = Field(default="", max_length=256, description="Default: the session title")
    summary: str = Field(default="", max_length=60_000, description="Default: the session's last result")
    draft: bool = False


class PullRequestsClose(BaseModel):
    repos: list[str] | None = Field(default=None, description="Only these repos (default: every open PR)")
    delete_branches: bool = True
    comment: str = Field(default="", max_length=10_000)


def create_pull_requests_router(code: CodeSources, workspace_for: WorkspaceFor) -> APIRouter:
    """`workspace_for(session)` returns the session's live workspace (e.g. `(await envs.env_for(s)).workspace`)."""
    router = APIRouter(prefix="/sessions", tags=["pull-requests"])

    @router.get("/{session_id}/pull-requests", responses=problems(404))
    async def list_pull_requests(session_id: str, ctx: Ctx, who: Reader, refresh: bool = False) -> dict[str, Any]:
        """The session's linked PRs and their status (`refresh=true` re-reads them from GitHub)."""
        session = await ctx.session(who, session_id)
        prs = await code.linked_prs(session.id, session.org_id, refresh=refresh)
        if prs is None:
            raise NotFoundError(f"session {session_id} has no pull requests", code="no_pull_requests")
        return prs.to_dict()

    @router.post("/{session_id}/pull-requests", status_code=201, responses=problems(404, 409))
    async def open_pull_requests(session_id: str, body: PullRequestsCreate, ctx: Ctx, who: Writer) -> dict[str, Any]:
        """Push every modified repo and open one linked PR per repo (or stage them, if policy says so)."""
        session = await ctx.session(who, session_id)
        if session.turn_state is not None:
            raise ConflictError(
                f"session {session_id} has a turn in flight; open PRs when it is idle", code="session_busy"
            )
        prs = await code.open_linked_prs(
            session.id,
            session.org_id,
            await workspace_for(session),
            title=body.title or session.title or f"Changes from Dexa session {session.id}",
            summary=body.summary or session.result,
            draft=body.draft,
        )
        await ctx.audit.append(who, "session.pull_requests.open", session_id, {"status": prs.status})
        return prs.to_dict()

    @router.post("/{session_id}/pull-requests/close", responses=problems(404))
    async def close_pull_requests(session_id: str, body: PullRequestsClose, ctx: Ctx, who: Writer) -> dict[str, Any]:
        """Close the session's open PRs (what a rewind or abort offers)."""
        session = await ctx.session(who, session_id)
        prs = await code.close_linked_prs(
            session.id, session.org_id, repos=body.repos, delete_branches=body.delete_branches, comment=body.comment
        )
        if prs is None:
            raise NotFoundError(f"session {session_id} has no pull requests", code="no_pull_requests")
        await ctx.audit.append(who, "session.pull_requests.close", session_id, {"repos": body.repos})
        return prs.to_dict()

    return router
