"""What a caller may ask for when creating a session, beyond the workspace: network access and scripted models.

- Network: a session with network reaches whatever its level allows, so only an org admin grants it freely.
  A member may ask for a level only when the org's session policy lists it (kv `org_policy`/`session`,
  `{"memberNetworkLevels": ["trusted", ...]}`); otherwise the request is refused (403), never silently narrowed.
- `scripted:` models name a script file on the server, so the API reads host files for whoever asks: accepted only
  when the server runs in test mode (DEXA_TEST_MODE=1, the harnesses' setting).
"""

from __future__ import annotations

from typing import Any, Final

from dexa.auth.models import Principal
from dexa.core.errors import PermissionDeniedError
from dexa.core.models import is_scripted

from .deps import ApiContext

POLICY_NAMESPACE: Final = "org_policy"
POLICY_KEY: Final = "session"
NETWORK_LEVELS: Final = ("none", "trusted", "full", "custom")


def requested_network(body: Any) -> str:
    """The network level a create body asks for: a level field if the schema has one, else `network: true` (which
    today opens the sandbox's network fully) as "full"."""
    level = getattr(body, "network_level", None)
    if isinstance(level, str) and level:
        return level
    return "full" if getattr(body, "network", False) else "none"


async def member_network_levels(ctx: ApiContext, org_id: str) -> frozenset[str]:
    doc = await ctx.runtime.store.kv_get(POLICY_NAMESPACE, POLICY_KEY, org_id=org_id) or {}
    levels = doc.get("memberNetworkLevels") or ()
    return frozenset(str(x) for x in levels if isinstance(x, str))


async def check_session_request(ctx: ApiContext, who: Principal, body: Any) -> None:
    """Refuse what the caller may not ask for.

    Raises:
        PermissionDeniedError: a scripted model outside test mode, or network a member's org does not allow (403).
    """
    model = getattr(body, "model", None)
    if model and is_scripted(model) and not ctx.test_mode:
        raise PermissionDeniedError(
            "model: scripted models read a script file on the server and are accepted only when it runs in test "
            "mode (DEXA_TEST_MODE=1)",
            code="forbidden",
        )
    level = requested_network(body)
    if level == "none" or who.role == "admin":
        return
    if level not in await member_network_levels(ctx, who.org_id):
        raise PermissionDeniedError(
            f"network: a {who.role} cannot start a session with network level {level!r}; an org admin can, or can "
            f"allow it for members in the org's session policy (memberNetworkLevels)",
            code="forbidden",
        )
