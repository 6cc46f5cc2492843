"""The seams of the code workflow: where credentials, the forge (GitHub today, GitLab later), git and the rest of
the runtime plug in. Everything here is a Protocol or a frozen value; implementations live in adapters.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from dexa.core.forge import CredentialSource, ForgePullRequest, PullRequestProvider

__all__ = [
    "BRANCH_PUSHED",
    "PULL_REQUESTS_UPDATED",
    "REPO_ADDED",
    "CredentialSource",
    "ForgePullRequest",
    "GitResult",
    "GitTransport",
    "PlannedPullRequest",
    "PrDecision",
    "PrGate",
    "PrStager",
    "PullRequestProvider",
    "SessionEmit",
    "SideEffectRecorder",
]

# ---------------------------------------------------------------- credentials and the forge: in dexa.core.forge

# ---------------------------------------------------------------- git in the workspace


@dataclass(frozen=True, slots=True, kw_only=True)
class GitResult:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.exit_code == 0


class GitTransport(Protocol):
    """The network half of git for one session: clone into the workspace and push from it, through the proxy.

    `auth_env` holds the short-lived session credential for this one command; an implementation must never write
    it into the workspace (files, `.git/config`, the workspace's environment).
    """

    async def clone(self, *, url: str, path: str, base: str | None, auth_env: Mapping[str, str]) -> GitResult: ...

    async def push(self, *, path: str, url: str, branch: str, auth_env: Mapping[str, str]) -> GitResult:
        """Push the workspace repo's HEAD to `refs/heads/<branch>` at `url`."""
        ...


# ---------------------------------------------------------------- the rest of the runtime

# record_side_effect(kv, session_id, kind=..., summary=..., data=..., compensation=...) from dexa.checkpoints.
SideEffectRecorder = Callable[..., Awaitable[Any]]
# engine.emit(session_id, type, data)
SessionEmit = Callable[[str, str, Mapping[str, Any]], Awaitable[Any]]
PrDecision = Literal["direct", "stage"]


@dataclass(frozen=True, slots=True, kw_only=True)
class PlannedPullRequest:
    repo: str
    head: str
    base: str
    title: str
    body: str


class PrGate(Protocol):
    """Output policy for pull requests: "direct" (the default) opens them; "stage" holds them for approval."""

    async def __call__(self, *, org_id: str, session_id: str, plan: list[PlannedPullRequest]) -> PrDecision: ...


class PrStager(Protocol):
    """Stores the planned PR set as a pending output; returns its id. On approval, the output executor calls
    `LinkedPullRequests.execute_staged(...)`."""

    async def __call__(self, *, org_id: str, session_id: str, plan: list[PlannedPullRequest]) -> str: ...


# Event types this package emits (ask the core owner to add them to EventType).
REPO_ADDED = "code.repo_added"
BRANCH_PUSHED = "code.branch_pushed"
PULL_REQUESTS_UPDATED = "code.pull_requests"
