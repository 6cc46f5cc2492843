"""Browser sign-in sessions: the web UI's cookie holds a key of its own, never the key that was pasted to sign in.

`POST /ui/login` checks the pasted key and mints a session key for the same user with the same scopes, which
expires with the cookie (kind "browser"). Signing out revokes it, so a cookie copied from a browser stops working
when its owner signs out, and the long-lived key that was pasted never sits in a cookie jar. Session keys are
ordinary keys everywhere else: the API, the API Gateway authorizer (which meters them under the org's gateway key)
and `GET /keys`, where an admin sees and can revoke every open browser session.
"""

from __future__ import annotations

import time
from typing import Final

from dexa.core.errors import NotFoundError

from . import keys
from .service import KEY_INDEX, AuthService

BROWSER: Final = "browser"
SESSION_TTL_S: Final = 30 * 24 * 3600


async def open_session(auth: AuthService, token: str, *, ttl_s: float = SESSION_TTL_S) -> str:
    """A fresh session key for whoever `token` authenticates as.

    Raises:
        dexa.core.errors.PermissionDeniedError: the pasted key does not authenticate (code "unauthenticated").
    """
    who = await auth.authenticate(token)
    _, session = await auth.create_key(
        who.org_id, who.user_id, "browser session", who.scopes, kind=BROWSER, expires_at=time.time() + ttl_s
    )
    return session


async def close_session(auth: AuthService, token: str) -> bool:
    """Revoke the session key a cookie carries; any other kind of key is left alone. True when one was revoked."""
    prefix = keys.parse_prefix(token)
    if prefix is None:
        return False
    index = await auth.store.kv_get(KEY_INDEX, prefix)
    if index is None:
        return False
    try:
        key = await auth.get_key(str(index["org_id"]), str(index["key_id"]))
    except NotFoundError:
        return False
    # Only the owner of the session's secret may end it: a guessed prefix alone must not sign someone out.
    if key.kind != BROWSER or key.revoked or not keys.matches(token, key.hash):
        return False
    await auth.revoke_key(key.org_id, key.id)
    return True
