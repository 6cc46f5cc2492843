"""What the store remembers about a session's code: its repos (kv "repos") and its linked PRs (kv "prs").

Both are one document per session, keyed by session id and scoped by org. The git proxy reads "repos" on every
request to authorise clone, fetch and push, so attaching a repo is what grants access to it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from dexa.core.ports import KeyValueStore

REPOS_NS = "repos"
PRS_NS = "prs"

RepoStatus = Literal["cloning", "ready", "failed"]
PrStatus = Literal["planned", "staged", "open", "draft", "closed", "merged", "failed"]


@dataclass(frozen=True, slots=True, kw_only=True)
class RepoEntry:
    repo: str
    path: str
    base: str
    branch: str
    status: RepoStatus = "cloning"
    base_sha: str = ""
    pushed_sha: str = ""
    error: str = ""
    added_at: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "repo": self.repo,
            "path": self.path,
            "base": self.base,
            "branch": self.branch,
            "status": self.status,
            "base_sha": self.base_sha,
            "pushed_sha": self.pushed_sha,
            "error": self.error,
            "added_at": self.added_at,
        }

    @staticmethod
    def from_dict(d: Mapping[str, Any]) -> RepoEntry:
        return RepoEntry(
            repo=str(d["repo"]),
            path=str(d["path"]),
            base=str(d.get("base", "")),
            branch=str(d["branch"]),
            status=d.get("status", "cloning"),
            base_sha=str(d.get("base_sha", "")),
            pushed_sha=str(d.get("pushed_sha", "")),
            error=str(d.get("error", "")),
            added_at=float(d.get("added_at", 0.0)),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class RepoSetState:
    session_id: str
    org_id: str
    slug: str
    repos: tuple[RepoEntry, ...] = ()

    def find(self, repo: str) -> RepoEntry | None:
        return next((r for r in self.repos if r.repo.lower() == repo.lower()), None)

    def with_repo(self, entry: RepoEntry) -> RepoSetState:
        """Add `entry`, or replace the entry for the same repo in place (order is the order repos were added)."""
        if self.find(entry.repo) is None:
            return replace(self, repos=(*self.repos, entry))
        return replace(self, repos=tuple(entry if r.repo.lower() == entry.repo.lower() else r for r in self.repos))

    def to_dict(self) -> dict[str, Any]:
        return {
            "session_id": self.session_id,
            "org_id": self.org_id,
            "slug": self.slug,
            "repos": [r.to_dict() for r in self.repos],
        }

    @staticmethod
    def from_dict(d: Mapping[str, Any]) -> RepoSetState:
        return RepoSetState(
            session_id=str(d["session_id"]),
            org_id=str(d.get("org_id", "")),
            slug=str(d.get("slug", "")),
            repos=tuple(RepoEntry.from_dict(r) for r in d.get("repos") or ()),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class LinkedPR:
    repo: str
    branch: str
    base: str
    status: PrStatus = "planned"
    number: int | None = None
    url: str = ""
    head_sha: str = ""
    error: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "repo": self.repo,
            "branch": self.branch,
            "base": self.base,
            "status": self.status,
            "number": self.number,
            "url": self.url,
            "head_sha": self.head_sha,
            "error": self.error,
        }

    @staticmethod
    def from_dict(d: Mapping[str, Any]) -> LinkedPR:
        number = d.get("number")
        return LinkedPR(
            repo=str(d["repo"]),
            branch=str(d["branch"]),
            base=str(d.get("base", "")),
            status=d.get("status", "planned"),
            number=None if number is None else int(number),
            url=str(d.get("url", "")),
            head_sha=str(d.get("head_sha", "")),
            error=str(d.get("error", "")),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class LinkedPRSet:
    session_id: str
    org_id: str
    title: str = ""
    summary: str = ""
    prs: tuple[LinkedPR, ...] = ()
    output_id: str | None = None
    updated_at: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def status(self) -> str:
        """staged | open | partial (some failed) | closed | merged | empty."""
        states = {p.status for p in self.prs}
        if not states:
            return "empty"
        if states == {"staged"}:
            return "staged"
        if "failed" in states:
            return "partial"
        if states <= {"closed", "merged"}:
            return "merged" if states == {"merged"} else "closed"
        return "open"

    def find(self, repo: str) -> LinkedPR | None:
        return next((p for p in self.prs if p.repo.lower() == repo.lower()), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "session_id": self.session_id,
            "org_id": self.org_id,
            "title": self.title,
            "summary": self.summary,
            "status": self.status,
            "prs": [p.to_dict() for p in self.prs],
            "output_id": self.output_id,
            "updated_at": self.updated_at,
            "extra": self.extra,
        }

    @staticmethod
    def from_dict(d: Mapping[str, Any]) -> LinkedPRSet:
        return LinkedPRSet(
            session_id=str(d["session_id"]),
            org_id=str(d.get("org_id", "")),
            title=str(d.get("title", "")),
            summary=str(d.get("summary", "")),
            prs=tuple(LinkedPR.from_dict(p) for p in d.get("prs") or ()),
            output_id=d.get("output_id"),
            updated_at=float(d.get("updated_at", 0.0)),
            extra=dict(d.get("extra") or {}),
        )


async def load_repos(kv: KeyValueStore, session_id: str, org_id: str) -> RepoSetState | None:
    doc = await kv.kv_get(REPOS_NS, session_id, org_id=org_id)
    return None if doc is None else RepoSetState.from_dict(doc)


async def save_repos(kv: KeyValueStore, state: RepoSetState) -> None:
    await kv.kv_put(REPOS_NS, state.session_id, state.to_dict(), org_id=state.org_id)


async def load_prs(kv: KeyValueStore, session_id: str, org_id: str) -> LinkedPRSet | None:
    doc = await kv.kv_get(PRS_NS, session_id, org_id=org_id)
    return None if doc is None else LinkedPRSet.from_dict(doc)


async def save_prs(kv: KeyValueStore, prs: LinkedPRSet) -> None:
    await kv.kv_put(PRS_NS, prs.session_id, prs.to_dict(), org_id=prs.org_id)
