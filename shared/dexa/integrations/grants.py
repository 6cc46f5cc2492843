"""Whose OAuth grant an integration acts with: the org's shared grant, or one user's own.

An owner is `"org"` or `"user:<user_id>"`; it is part of the grant's vault key, so one integration (say the org's
Google Calendar) can hold the org's shared grant and any number of users' own. Which one a session uses is the
integration's `grants` policy, applied to the user the session acts for (who started it, or who asked a trigger
or schedule):

    user_first  the user's own grant when they connected one, else the org's (the default: with no user grants
                this is exactly the per-org behaviour integrations had before)
    org_only    always the org's shared grant; users' own grants are ignored
    user_only   only the user's own grant; a user who has none cannot use the integration (never the org's,
                never another user's)

API keys, connection strings and the demo company belong to the org: their owner is always `"org"`.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Final, Literal

from dexa.core.errors import ConfigError

GrantPolicy = Literal["user_first", "org_only", "user_only"]
POLICIES: Final[tuple[str, ...]] = ("user_first", "org_only", "user_only")
DEFAULT_POLICY: Final = "user_first"
ORG: Final = "org"
_USER = re.compile(r"^user:([A-Za-z0-9_.@-]{1,128})$")


def user_owner(user_id: str) -> str:
    if not user_id or not _USER.match(f"user:{user_id}"):
        raise ConfigError(f"user id {user_id!r} cannot own a grant (1-128 characters of [A-Za-z0-9_.@-])")
    return f"user:{user_id}"


def owner_user(owner: str) -> str | None:
    """The user id of a user's grant; None for the org's. Raises ConfigError for anything else."""
    if owner == ORG:
        return None
    match = _USER.match(owner)
    if match is None:
        raise ConfigError(f"grant owner {owner!r} must be 'org' or 'user:<user id>'")
    return match.group(1)


def key_suffix(owner: str) -> str:
    """Appended to a grant's vault key. The org's grant keeps the bare key, so grants connected before per-user
    grants existed are still found."""
    user = owner_user(owner)
    return "" if user is None else f"/users/{user}"


def check_policy(policy: str) -> GrantPolicy:
    if policy not in POLICIES:
        raise ConfigError(f"grants policy {policy!r} is not one of {', '.join(POLICIES)}")
    return policy  # type: ignore[return-value]


async def choose(policy: str, *, user_id: str | None, has_grant: Callable[[str], Awaitable[bool]]) -> str | None:
    """The owner whose grant to use, or None when the policy leaves this user without one.

    `has_grant(owner)` says whether that owner connected (a grant that needs re-auth still counts: the call then
    fails saying to reconnect rather than silently acting as someone else).
    """
    policy = check_policy(policy)
    mine = user_owner(user_id) if user_id else None
    if policy == "org_only":
        return ORG if await has_grant(ORG) else None
    if mine is not None and await has_grant(mine):
        return mine
    if policy == "user_only":
        return None
    return ORG if await has_grant(ORG) else None


def connect_hint(integration_id: str, owner: str) -> str:
    """The command that (re)connects this grant."""
    return f"dexa integrations connect {integration_id}" + ("" if owner == ORG else " --mine")
