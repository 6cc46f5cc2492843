"""Export tokens: a bearer that reads one session's export and nothing else, for minutes.

The web UI shows `dexa pull SESSION --server URL --token T`; the token must be safe to paste into a terminal log,
so it is narrow (one session, one org, read-only), short-lived (15 minutes by default) and stored only as its SHA-256
(in the Store, so every API container, Lambda included, verifies it without a shared secret).
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from dexa.core.errors import ConfigError, PermissionDeniedError
from dexa.core.ports import KeyValueStore

PREFIX = "dxe1_"
NAMESPACE = "export_tokens"
DEFAULT_TTL_S = 15 * 60.0
MAX_TTL_S = 60 * 60.0


@dataclass(frozen=True, slots=True, kw_only=True)
class ExportGrant:
    session_id: str
    org_id: str
    user_id: str
    expires_at: float


def is_export_token(token: str) -> bool:
    return token.startswith(PREFIX)


def _key(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class ExportTokens:
    def __init__(self, kv: KeyValueStore, *, clock: Callable[[], float] = time.time) -> None:
        self.kv = kv
        self.clock = clock

    async def mint(
        self, *, session_id: str, org_id: str, user_id: str, ttl_s: float = DEFAULT_TTL_S
    ) -> tuple[str, float]:
        """(token, expires_at). The token itself is never stored."""
        if not 0 < ttl_s <= MAX_TTL_S:
            raise ConfigError(f"ttl_s: an export token lives between 1 and {MAX_TTL_S:.0f} seconds, got {ttl_s}")
        token = PREFIX + secrets.token_urlsafe(32)
        expires_at = self.clock() + ttl_s
        doc = {"session_id": session_id, "org_id": org_id, "user_id": user_id, "expires_at": expires_at}
        await self.kv.kv_put(NAMESPACE, _key(token), doc)
        return token, expires_at

    async def verify(self, token: str, *, session_id: str) -> ExportGrant:
        """The grant for `session_id`; PermissionDeniedError (401) for an unknown or expired token, or (403) for a
        token minted for another session."""
        doc = await self.kv.kv_get(NAMESPACE, _key(token)) if is_export_token(token) else None
        if doc is None:
            raise PermissionDeniedError("unknown export token", code="unauthenticated")
        grant = ExportGrant(
            session_id=str(doc["session_id"]),
            org_id=str(doc["org_id"]),
            user_id=str(doc["user_id"]),
            expires_at=float(doc["expires_at"]),
        )
        if grant.expires_at <= self.clock():
            await self.kv.kv_delete(NAMESPACE, _key(token))
            raise PermissionDeniedError("the export token has expired; mint a new one", code="unauthenticated")
        if grant.session_id != session_id:
            raise PermissionDeniedError(
                f"this export token is for session {grant.session_id}, not {session_id}", code="forbidden"
            )
        return grant
