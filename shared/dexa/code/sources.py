"""CodeSources: everything a deployment configures once for the code workflow, and what wiring calls.

Wiring (the env factory) per session:

    code = CodeSources(kv=store, tokens=tokens, proxy_url=f"{api_base}/git", provider=github, staging_dir=...,
                       session_url=lambda sid: f"{web_base}/sessions/{sid}", record_side_effect=record_side_effect,
                       emit=engine.emit)
    repos = await code.attach(session, workspace)            # clones `github:owner/name[@base]` sources up front
    for tool in code.tools(): registry.add(tool)
    services["code"] = code
    system_prompt += await code.system_prompt(session.id, session.org_id)

At the end of a session (or from `POST /sessions/{id}/pull-requests`): `await code.open_linked_prs(...)`.
On rewind / abort: `await code.offer_close(...)`, then `await code.close_linked_prs(...)` if the user agrees.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dexa.core.ports import KeyValueStore, Workspace
from dexa.core.session import Session
from dexa.core.tools import Tool, ToolContext

from .naming import slugify
from .ports import GitTransport, PrGate, PrStager, PullRequestProvider, SessionEmit, SideEffectRecorder
from .prs import LinkedPullRequests
from .repos import Emit, RepoSet
from .state import LinkedPR, LinkedPRSet, load_repos
from .tokens import SessionTokens
from .tools import CodeService, code_tools
from .transport import HostGitTransport, WorkspaceGitTransport


def _bind(emit: SessionEmit, session_id: str) -> Emit:
    async def bound(type_: str, data: Mapping[str, Any]) -> None:
        await emit(session_id, type_, data)

    return bound


def _unbind(emit: Emit) -> SessionEmit:
    # A tool's emit is already bound to its session.
    async def unbound(_session_id: str, type_: str, data: Mapping[str, Any]) -> None:
        await emit(type_, data)

    return unbound


@dataclass(slots=True, kw_only=True)
class CodeSources:
    kv: KeyValueStore
    tokens: SessionTokens
    proxy_url: str
    provider: PullRequestProvider
    staging_dir: Path
    transport_for: Callable[[Workspace], GitTransport] | None = None
    session_url: Callable[[str], str] = field(default=lambda _sid: "")
    record_side_effect: SideEffectRecorder | None = None
    emit: SessionEmit | None = None
    gate: PrGate | None = None
    stager: PrStager | None = None
    identity: tuple[str, str] = ("Dexa", "dexa@users.noreply.github.com")
    clock: Callable[[], float] = time.time

    def _transport(self, workspace: Workspace) -> GitTransport:
        if self.transport_for is not None:
            return self.transport_for(workspace)
        if getattr(workspace, "is_remote", False):  # no host directory to clone into: git runs in the sandbox
            return WorkspaceGitTransport(workspace)
        return HostGitTransport(self.staging_dir)

    def _mint(self, session_id: str, org_id: str) -> str:
        return self.tokens.mint(session_id=session_id, org_id=org_id)

    def repo_set(
        self, *, session_id: str, org_id: str, workspace: Workspace, slug: str = "changes", emit: Emit | None = None
    ) -> RepoSet:
        if emit is None and self.emit is not None:
            emit = _bind(self.emit, session_id)
        return RepoSet(
            session_id=session_id,
            org_id=org_id,
            workspace=workspace,
            kv=self.kv,
            transport=self._transport(workspace),
            mint_token=self._mint,
            proxy_url=self.proxy_url,
            slug=slug,
            provider=self.provider,
            identity=self.identity,
            session_url=self.session_url(session_id),
            record_side_effect=self.record_side_effect,
            emit=emit,
            clock=self.clock,
        )

    def repo_set_for(self, ctx: ToolContext) -> RepoSet:
        return self.repo_set(session_id=ctx.session_id, org_id=ctx.org_id, workspace=ctx.workspace, emit=ctx.emit)

    async def attach(self, session: Session, workspace: Workspace) -> RepoSet:
        """The session's RepoSet, with the repos named in its sources cloned (idempotent on resume)."""
        repos = self.repo_set(
            session_id=session.id,
            org_id=session.org_id,
            workspace=workspace,
            slug=slugify(session.title) if session.title else "changes",
        )
        await repos.add_sources(session.config.sources)
        return repos

    def prs(self, ctx: ToolContext | None = None) -> LinkedPullRequests:
        emit = self.emit if ctx is None else _unbind(ctx.emit)
        return LinkedPullRequests(
            kv=self.kv,
            provider=self.provider,
            session_url=self.session_url,
            record_side_effect=self.record_side_effect,
            gate=self.gate,
            stager=self.stager,
            emit=emit,
            clock=self.clock,
        )

    def tools(self) -> list[Tool]:
        return list(code_tools())

    async def system_prompt(self, session_id: str, org_id: str) -> str:
        """A system-prompt section naming the session's repos and how code changes leave the workspace."""
        state = await load_repos(self.kv, session_id, org_id)
        lines = [
            "# Code repositories",
            "Repositories are cloned into the workspace with AddRepository and checked out on this session's "
            "branch. Commit your work there; you cannot push yourself (the workspace holds no credentials). "
            "When the change is complete and tested, call OpenPullRequests: it pushes every modified "
            "repository and opens one linked pull request per repository.",
        ]
        for entry in state.repos if state else ():
            lines.append(f"- {entry.repo} at {entry.path} (branch {entry.branch}, base {entry.base})")
        return "\n".join(lines)

    # ------------------------------------------------------------ called by the lead / API

    async def open_linked_prs(
        self, session_id: str, org_id: str, workspace: Workspace, *, title: str, summary: str = "", draft: bool = False
    ) -> LinkedPRSet:
        """Push every modified repo and open (or stage) the linked PRs. Raises ToolInputError if nothing changed."""
        repos = self.repo_set(session_id=session_id, org_id=org_id, workspace=workspace)
        return await self.prs().open(repos, title=title, summary=summary, draft=draft)

    async def linked_prs(self, session_id: str, org_id: str, *, refresh: bool = False) -> LinkedPRSet | None:
        prs = self.prs()
        return await (prs.refresh(session_id, org_id) if refresh else prs.get(session_id, org_id))

    async def offer_close(self, session_id: str, org_id: str) -> list[LinkedPR]:
        return await self.prs().offer_close(session_id, org_id)

    async def close_linked_prs(
        self,
        session_id: str,
        org_id: str,
        *,
        repos: Collection[str] | None = None,
        delete_branches: bool = True,
        comment: str = "",
    ) -> LinkedPRSet | None:
        return await self.prs().close(session_id, org_id, repos=repos, delete_branches=delete_branches, comment=comment)

    async def execute_staged(self, session_id: str, org_id: str) -> LinkedPRSet:
        return await self.prs().execute_staged(session_id, org_id)

    async def compensate(self, action: str, args: dict[str, Any]) -> Mapping[str, Any] | None:
        """The side-effect ledger executor for close_pr / delete_branch."""
        return await self.prs().compensate(action, args)


if TYPE_CHECKING:
    # pyright checks that CodeSources still gives the tools what they use of it.
    _gives_the_tools: type[CodeService] = CodeSources
