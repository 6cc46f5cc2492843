"""What Dexa needs from a code forge (GitHub today, GitLab later): the credential for a repository, and its
change requests. Ports of the code workflow that adapters implement (dexa.adapters.github), so they live in core,
under both; dexa.code.ports re-exports them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

# ---------------------------------------------------------------- credentials


class CredentialSource(Protocol):
    """The real forge credential for a repository. Used only by the control plane (git proxy, PR API)."""

    async def installation_token(self, org_id: str, repo: str) -> tuple[str, float]:
        """(token, expires_at as Unix time). Raises PermissionDeniedError / NotFoundError when none applies."""
        ...


# ---------------------------------------------------------------- forge


@dataclass(frozen=True, slots=True, kw_only=True)
class ForgePullRequest:
    """A pull (or merge) request as the forge reports it."""

    repo: str
    number: int
    url: str
    status: str  # open | draft | closed | merged
    head: str
    base: str
    title: str = ""
    head_sha: str = ""


class PullRequestProvider(Protocol):
    """What Dexa needs from a forge to open, link and close change requests. GitHub implements it; a GitLab
    provider (merge requests) implements the same methods."""

    name: str

    def repo_url(self, repo: str) -> str:
        """The human page of the repository."""
        ...

    async def default_branch(self, org_id: str, repo: str) -> str: ...

    async def find_open(self, org_id: str, repo: str, *, head: str) -> ForgePullRequest | None: ...

    async def create(
        self, org_id: str, repo: str, *, head: str, base: str, title: str, body: str, draft: bool = False
    ) -> ForgePullRequest:
        """Open a change request; when one is already open for `head`, return it (idempotent)."""
        ...

    async def update_body(self, org_id: str, repo: str, number: int, body: str) -> ForgePullRequest: ...

    async def get(self, org_id: str, repo: str, number: int) -> ForgePullRequest: ...

    async def close(self, org_id: str, repo: str, number: int) -> ForgePullRequest: ...

    async def delete_branch(self, org_id: str, repo: str, branch: str) -> bool: ...

    async def comment(self, org_id: str, repo: str, number: int, body: str) -> str:
        """Post a comment on an issue or change request; returns its URL."""
        ...
