"""Which Dexa org an outside event belongs to, and who acts for it: the links an org admin sets up.

    github_links     global  "repo:{owner/name}" | "installation:{id}" -> {org_id}
    github_trigger   org     "config"          -> {run_as, repos, installation_id}
    slack_teams      global  team id           -> {org_id}
    review_channels  org     "config"          -> {slack_team, slack_channel, emails}
    slack_users      org     Slack user id     -> {user_id}

A repo, installation or Slack team links to one org only: linking one another org holds is a ConflictError, so
one org can never route another's events to itself. A session a `@dexa` mention starts runs as the org's
`run_as` user; a Slack click decides only when its Slack user maps to a Dexa user allowed to approve.

Identity (which org, which user), so it lives in dexa.auth, under the triggers that route events with it and the
integrations that announce approvals to the review channels.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dexa.core.errors import ConfigError, ConflictError, NotFoundError
from dexa.core.ports import KeyValueStore

from .models import ROLE_SCOPES, User
from .service import AuthService

GITHUB_LINKS = "github_links"
GITHUB_TRIGGER = "github_trigger"
SLACK_TEAMS = "slack_teams"
REVIEW_CHANNELS = "review_channels"
SLACK_USERS = "slack_users"
CONFIG = "config"


@dataclass(frozen=True, slots=True, kw_only=True)
class ReviewChannels:
    """Where an org's waiting approvals and staged outputs are announced."""

    slack_team: str = ""
    slack_channel: str = ""
    emails: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"slack_team": self.slack_team, "slack_channel": self.slack_channel, "emails": list(self.emails)}


async def _claim_global(kv: KeyValueStore, namespace: str, key: str, org_id: str) -> None:
    if await kv.kv_put_if_absent(namespace, key, {"org_id": org_id}):
        return
    held = await kv.kv_get(namespace, key) or {}
    if held.get("org_id") != org_id:
        raise ConflictError(f"{key} is already linked to another org")


async def _member(kv: KeyValueStore, org_id: str, user_id: str, *, scope: str) -> User:
    user = await AuthService(kv).get_user(org_id, user_id)
    if user.disabled or scope not in ROLE_SCOPES[user.role]:
        raise ConfigError(f"user {user_id} (role {user.role}) cannot {scope.replace(':', ' ')}")
    return user


async def link_github(
    kv: KeyValueStore, org_id: str, *, run_as: str, repos: Sequence[str] = (), installation_id: int | None = None
) -> dict[str, Any]:
    """Route `@dexa` mentions on `repos` (or anywhere the App `installation_id` is installed) to the org, run as
    `run_as`.

    Raises:
        ConfigError: no repo and no installation, a malformed repo name, or a user who may not start sessions.
        NotFoundError: `run_as` is not a user of the org.
        ConflictError: a repo or installation is already linked to another org.
    """
    if not repos and installation_id is None:
        raise ConfigError("link at least one repo (owner/name) or a GitHub App installation_id")
    bad = [r for r in repos if r.count("/") != 1 or not all(r.split("/"))]
    if bad:
        raise ConfigError(f"repos must be owner/name, got {bad[:3]}")
    await _member(kv, org_id, run_as, scope="sessions:write")
    keys = [f"repo:{r.lower()}" for r in repos]
    if installation_id is not None:
        keys.append(f"installation:{installation_id}")
    for key in keys:
        await _claim_global(kv, GITHUB_LINKS, key, org_id)
    doc = {"run_as": run_as, "repos": list(repos), "installation_id": installation_id}
    await kv.kv_put(GITHUB_TRIGGER, CONFIG, doc, org_id=org_id)
    return doc


async def github_org(kv: KeyValueStore, installation_id: int | None, repo: str) -> str | None:
    """The org a delivery belongs to: the repo's own link first, then the installation's."""
    for key in (f"repo:{repo.lower()}", f"installation:{installation_id}" if installation_id is not None else ""):
        doc = await kv.kv_get(GITHUB_LINKS, key) if key else None
        if doc is not None:
            return str(doc["org_id"])
    return None


async def github_run_as(kv: KeyValueStore, org_id: str) -> str:
    """The user a mention's session runs as.

    Raises:
        ConfigError: the org linked GitHub but has no run_as user any more.
    """
    doc = await kv.kv_get(GITHUB_TRIGGER, CONFIG, org_id=org_id)
    if not doc or not doc.get("run_as"):
        raise ConfigError(f"org {org_id} has no GitHub run_as user; PUT /triggers/github")
    return str(doc["run_as"])


async def set_review_channels(kv: KeyValueStore, org_id: str, channels: ReviewChannels) -> ReviewChannels:
    """Raises ConflictError when the Slack team is linked to another org."""
    if channels.slack_channel and not channels.slack_team:
        raise ConfigError("a Slack channel needs its slack_team (the workspace's team id, T...)")
    if channels.slack_team:
        await _claim_global(kv, SLACK_TEAMS, channels.slack_team, org_id)
    await kv.kv_put(REVIEW_CHANNELS, CONFIG, channels.to_dict(), org_id=org_id)
    return channels


async def review_channels(kv: KeyValueStore, org_id: str) -> ReviewChannels:
    doc: Mapping[str, Any] = await kv.kv_get(REVIEW_CHANNELS, CONFIG, org_id=org_id) or {}
    return ReviewChannels(
        slack_team=str(doc.get("slack_team") or ""),
        slack_channel=str(doc.get("slack_channel") or ""),
        emails=tuple(doc.get("emails") or ()),
    )


async def map_slack_user(kv: KeyValueStore, org_id: str, slack_user: str, user_id: str) -> None:
    """Let `slack_user` act as `user_id` in Slack. Raises NotFoundError for a user not in the org."""
    await AuthService(kv).get_user(org_id, user_id)
    await kv.kv_put(SLACK_USERS, slack_user, {"user_id": user_id}, org_id=org_id)


async def slack_reviewer(kv: KeyValueStore, team_id: str, slack_user: str, *, scope: str) -> tuple[str, User] | None:
    """(org id, Dexa user) when the Slack user of that team may use `scope` in the team's org; else None."""
    team = await kv.kv_get(SLACK_TEAMS, team_id) if team_id else None
    if team is None:
        return None
    org_id = str(team["org_id"])
    mapped = await kv.kv_get(SLACK_USERS, slack_user, org_id=org_id)
    if mapped is None:
        return None
    try:
        return org_id, await _member(kv, org_id, str(mapped["user_id"]), scope=scope)
    except (NotFoundError, ConfigError):
        return None
