"""RepoSet: the repositories of one session, cloned into its workspace through the git proxy.

A repo is attached (recorded in kv "repos", which is what lets the proxy serve it), cloned to `<root>/<name>`,
and checked out on the session's branch `dexa/<session-short>-<slug>` right away, so the agent's commits land
there. Local git work (status, commit) runs inside the workspace; clone and push go through a GitTransport.
Each repo's path is where memory and settings discovery looks for its CLAUDE.md and `.claude/`.
"""

from __future__ import annotations

import logging
import os
import posixpath
import shlex
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from dexa.core.errors import ToolError, ToolInputError
from dexa.core.ports import KeyValueStore, Workspace

from .naming import branch_name, parse_repo, parse_source, slugify, valid_branch
from .ports import BRANCH_PUSHED, REPO_ADDED, GitTransport, PullRequestProvider, SideEffectRecorder
from .state import RepoEntry, RepoSetState, load_repos, save_repos
from .transport import auth_env

logger = logging.getLogger(__name__)

Emit = Callable[[str, Mapping[str, Any]], Awaitable[Any]]
TokenMinter = Callable[[str, str], str]  # (session_id, org_id) -> short-lived proxy token


@dataclass(frozen=True, slots=True, kw_only=True)
class RepoChanges:
    dirty: bool
    commits_ahead: int
    head_sha: str

    @property
    def modified(self) -> bool:
        return self.dirty or self.commits_ahead > 0


def _clip(text: str, limit: int = 1500) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


class RepoSet:
    def __init__(
        self,
        *,
        session_id: str,
        org_id: str,
        workspace: Workspace,
        kv: KeyValueStore,
        transport: GitTransport,
        mint_token: TokenMinter,
        proxy_url: str,
        slug: str,
        provider: PullRequestProvider | None = None,
        root: str | None = None,
        identity: tuple[str, str] = ("Dexa", "dexa@users.noreply.github.com"),
        session_url: str = "",
        record_side_effect: SideEffectRecorder | None = None,
        emit: Emit | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.session_id = session_id
        self.org_id = org_id
        self.workspace = workspace
        self.kv = kv
        self.transport = transport
        self.mint_token = mint_token
        self.proxy_url = proxy_url.rstrip("/")
        self.slug = slug
        self.provider = provider
        self.root = root or workspace.root
        self.identity = identity
        self.session_url = session_url
        self.record_side_effect = record_side_effect
        self.emit = emit
        self.clock = clock

    # ------------------------------------------------------------ state

    async def state(self) -> RepoSetState:
        state = await load_repos(self.kv, self.session_id, self.org_id)
        return state or RepoSetState(session_id=self.session_id, org_id=self.org_id, slug=self.slug)

    async def list(self) -> list[RepoEntry]:
        return list((await self.state()).repos)

    async def get(self, repo: str) -> RepoEntry:
        entry = (await self.state()).find(parse_repo(repo))
        if entry is None:
            raise ToolInputError(f"repository {repo} is not in this session; add it with AddRepository first")
        return entry

    async def paths(self) -> list[str]:
        """Working-tree paths of the ready repos: where per-repo memory and settings are discovered."""
        return [r.path for r in await self.list() if r.status == "ready"]

    def remote_url(self, repo: str) -> str:
        return f"{self.proxy_url}/s/{self.session_id}/{repo}.git"

    def _auth(self) -> dict[str, str]:
        return auth_env(self.proxy_url, self.mint_token(self.session_id, self.org_id))

    async def _save(self, entry: RepoEntry) -> None:
        await save_repos(self.kv, (await self.state()).with_repo(entry))

    async def _sh(self, command: str, cwd: str, *, timeout_s: float = 120.0) -> tuple[int, str, str]:
        result = await self.workspace.exec(command, cwd=cwd, timeout_s=timeout_s)
        return result.exit_code, result.stdout, result.stderr

    # ------------------------------------------------------------ add

    def _directory(self, repo: str, directory: str | None, taken: Iterable[RepoEntry]) -> str:
        if directory:
            path = posixpath.normpath(directory if posixpath.isabs(directory) else posixpath.join(self.root, directory))
        else:
            owner, name = repo.split("/")
            path = posixpath.join(self.root, name)
            if any(r.path == path for r in taken):
                path = posixpath.join(self.root, f"{owner}-{name}")
        if path != self.root and not path.startswith(self.root.rstrip("/") + "/"):
            raise ToolInputError(f"directory {directory!r} is outside the workspace ({self.root})")
        if path == self.root:
            raise ToolInputError("a repository needs its own directory inside the workspace, not the root itself")
        return path

    async def add(
        self, repo: str, *, base: str | None = None, directory: str | None = None, topic: str | None = None
    ) -> RepoEntry:
        """Attach `repo` and clone it, checked out on the session branch. Idempotent for a ready repo.

        `topic` names the session's branch (`dexa/<short>-<topic>`) when this is the session's first repo.

        Raises:
            ToolInputError: bad repo name, branch or directory.
            ToolError: the clone failed (git's message included, e.g. the proxy's refusal).
        """
        repo = parse_repo(repo)
        if base is not None and not valid_branch(base):
            raise ToolInputError(f"{base!r} is not a branch name")
        state = await self.state()
        existing = state.find(repo)
        if existing is not None and existing.status == "ready":
            return existing
        path = existing.path if existing else self._directory(repo, directory, state.repos)
        if existing is None and await self.workspace.exists(path):
            raise ToolInputError(f"{path} already exists in the workspace; pass another directory")
        if base is None and self.provider is not None:
            base = await self.provider.default_branch(self.org_id, repo)
        slug = slugify(topic) if topic and not state.repos else state.slug or self.slug
        entry = RepoEntry(
            repo=repo,
            path=path,
            base=base or "",
            branch=branch_name(self.session_id, slug),
            status="cloning",
            added_at=self.clock(),
        )
        # Attaching first is what lets the proxy serve the clone.
        await save_repos(self.kv, replace(state, slug=slug).with_repo(entry))
        result = await self.transport.clone(url=self.remote_url(repo), path=path, base=base, auth_env=self._auth())
        if not result.ok:
            await self._save(replace(entry, status="failed", error=_clip(result.stderr, 500)))
            raise ToolError(f"could not clone {repo}: {_clip(result.stderr)}")
        entry = await self._prepare(entry)
        await self._save(entry)
        logger.info("session %s: cloned %s into %s on %s", self.session_id, repo, path, entry.branch)
        if self.emit is not None:
            await self.emit(REPO_ADDED, {"repo": repo, "path": path, "branch": entry.branch, "base": entry.base})
        return entry

    async def _prepare(self, entry: RepoEntry) -> RepoEntry:
        name, email = self.identity
        q = shlex.quote
        code, out, err = await self._sh(
            f"git rev-parse --abbrev-ref HEAD && git rev-parse HEAD && git checkout -q -B {q(entry.branch)} && "
            f"git config user.name {q(name)} && git config user.email {q(email)}",
            entry.path,
        )
        lines = out.split()
        if code or len(lines) < 2:
            raise ToolError(
                f"could not check out {entry.branch} in {entry.repo} (is the repository empty?): {_clip(err)}"
            )
        return replace(entry, status="ready", base=entry.base or lines[0], base_sha=lines[1], error="")

    async def add_sources(self, sources: Iterable[str]) -> list[RepoEntry]:
        """Clone the repos a session names up front (`github:owner/name[@base]` sources); others are ignored."""
        added = []
        for source in sources:
            parsed = parse_source(source)
            if parsed is not None:
                added.append(await self.add(parsed[0], base=parsed[1]))
        return added

    # ------------------------------------------------------------ changes, commit, push

    async def changes(self, entry: RepoEntry) -> RepoChanges:
        code, out, err = await self._sh(
            f"git status --porcelain && echo ::dexa:: && git rev-parse HEAD && "
            f"git rev-list --count {shlex.quote(entry.base_sha)}..HEAD",
            entry.path,
        )
        if code:
            raise ToolError(f"could not read the state of {entry.repo}: {_clip(err)}")
        status, _, rest = out.partition("::dexa::")
        head, ahead = [*rest.split(), "", "0"][:2]
        return RepoChanges(dirty=bool(status.strip()), commits_ahead=int(ahead or 0), head_sha=head)

    async def modified(self) -> list[RepoEntry]:
        return [r for r in await self.list() if r.status == "ready" and (await self.changes(r)).modified]

    async def commit_all(self, entry: RepoEntry, message: str) -> bool:
        """Commit every uncommitted change (hooks skipped: they belong to the agent's own commits)."""
        if not (await self.changes(entry)).dirty:
            return False
        full = message.strip() or "Changes by Dexa"
        if self.session_url:
            full += f"\n\nDexa-Session: {self.session_url}"
        code, _, err = await self._sh(f"git add -A && git commit -q --no-verify -m {shlex.quote(full)}", entry.path)
        if code:
            raise ToolError(f"could not commit in {entry.repo}: {_clip(err)}")
        return True

    async def push(self, repo: str, *, message: str = "") -> RepoEntry:
        """Commit pending changes, then push HEAD to the session branch through the proxy.

        Raises:
            ToolError: the push was refused or failed; git's output (with the proxy's reason) is in the message.
        """
        entry = await self.get(repo)
        await self.commit_all(entry, message)
        head = (await self.changes(entry)).head_sha
        if head and head == entry.pushed_sha:
            return entry
        result = await self.transport.push(
            path=entry.path, url=self.remote_url(entry.repo), branch=entry.branch, auth_env=self._auth()
        )
        if not result.ok:
            raise ToolError(
                f"push of {entry.repo} to {entry.branch} was refused or failed:\n"
                f"{_clip(result.stdout + os.linesep + result.stderr)}"
            )
        first = not entry.pushed_sha
        entry = replace(entry, pushed_sha=head)
        await self._save(entry)
        if first and self.record_side_effect is not None:
            await self.record_side_effect(
                self.kv,
                self.session_id,
                kind="branch_pushed",
                summary=f"Pushed {entry.branch} to {entry.repo}",
                data={"repo": entry.repo, "branch": entry.branch, "sha": head},
                compensation={
                    "action": "delete_branch",
                    "args": {"org_id": self.org_id, "repo": entry.repo, "branch": entry.branch},
                },
            )
        if self.emit is not None:
            await self.emit(BRANCH_PUSHED, {"repo": entry.repo, "branch": entry.branch, "sha": head})
        return entry
