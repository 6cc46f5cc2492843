"""Code sources: repositories in the workspace, the session branch, pushes through the git proxy, linked PRs.

Entry points: `CodeSources` (wiring), `RepoSet` (one session's repos), `LinkedPullRequests` (the PR set), and
the agent tools AddRepository / ListRepositories / OpenPullRequests. Forges plug in through
`ports.PullRequestProvider`; credentials through `ports.CredentialSource`.
"""

from __future__ import annotations

from .naming import branch_name, branch_prefix, parse_repo, session_short, slugify
from .ports import CredentialSource, ForgePullRequest, PlannedPullRequest, PrGate, PrStager, PullRequestProvider
from .prs import LinkedPullRequests, render_body
from .repos import RepoSet
from .sources import CodeSources
from .state import LinkedPR, LinkedPRSet, RepoEntry, RepoSetState
from .tools import AddRepository, ListRepositories, OpenPullRequests
from .transport import HostGitTransport, WorkspaceGitTransport, auth_env

__all__ = [
    "AddRepository",
    "CodeSources",
    "CredentialSource",
    "ForgePullRequest",
    "HostGitTransport",
    "LinkedPR",
    "LinkedPRSet",
    "LinkedPullRequests",
    "ListRepositories",
    "OpenPullRequests",
    "PlannedPullRequest",
    "PrGate",
    "PrStager",
    "PullRequestProvider",
    "RepoEntry",
    "RepoSet",
    "RepoSetState",
    "WorkspaceGitTransport",
    "auth_env",
    "branch_name",
    "branch_prefix",
    "parse_repo",
    "render_body",
    "session_short",
    "slugify",
]
