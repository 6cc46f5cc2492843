"""Session environments kept across the invocations of a warm container, rebuilt when their session changed.

Building a SessionEnv (settings files, tool registry, MCP configuration, the workspace client) is the costliest part
of a step that finds nothing built, so a warm step container keeps each session's. The key is the session id plus a
stamp of what the environment is built from (org, user, working directory, model, the session's configuration):
a session changed since, in any of those, through the API or by another container, is released and built afresh.
Limits read live on every step (max turns, budget) are left out of the stamp, so raising a budget rebuilds nothing.

Settings and memory files saved through the API (dexa.config.stored) are written back into an environment when it
is built; the stamp also holds the org's stored-settings version, read once per invocation (new_invocation) and
at most VERSION_TTL_S apart, so a PUT /settings or /memory made since reaches the session at its next invocation
(or within seconds in a long one).
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

from dexa.config import stored
from dexa.core.environment import EnvFactory, SessionEnv
from dexa.core.ports import KeyValueStore
from dexa.core.session import Session

# How long an org's stored-settings version read is trusted within one invocation (a long chain of steps).
VERSION_TTL_S = 5.0
# SessionConfig fields the steps read from the session itself on every use.
_LIVE_FIELDS = ("max_turns", "max_budget_usd")


def env_stamp(session: Session, settings_version: str = "") -> str:
    """A digest of everything about the session that shapes its environment."""
    config = {k: v for k, v in session.config.to_dict().items() if k not in _LIVE_FIELDS}
    shape = {
        "org": session.org_id,
        "user": session.user_id,
        "cwd": session.cwd,
        "model": session.model,
        "config": config,
        "stored_settings": settings_version,
    }
    return hashlib.sha256(json.dumps(shape, sort_keys=True, default=str).encode()).hexdigest()[:16]


class StampedEnvs:
    """An EnvFactory over another (which caches by session id): releases a session's environment once its stamp
    changed, so the next env_for builds it from the session as it is now. Everything else passes through."""

    def __init__(self, inner: EnvFactory, *, kv: KeyValueStore | None = None) -> None:
        self.inner = inner
        # Where the org's stored-settings version is read (None: the stamp leaves it out).
        self.kv = kv
        self._stamps: dict[str, str] = {}
        self._versions: dict[str, tuple[str, float]] = {}  # org -> (stored-settings version, read at)

    def new_invocation(self) -> None:
        """Read the orgs' stored-settings versions again at their next use (one GetItem per org per invocation)."""
        self._versions.clear()

    async def _settings_version(self, org_id: str) -> str:
        if self.kv is None:
            return ""
        known = self._versions.get(org_id)
        if known is not None and time.monotonic() - known[1] < VERSION_TTL_S:
            return known[0]
        version = await stored.version(self.kv, org_id)
        self._versions[org_id] = (version, time.monotonic())
        return version

    async def env_for(self, session: Session) -> SessionEnv:
        stamp = env_stamp(session, await self._settings_version(session.org_id))
        known = self._stamps.get(session.id)
        if known is not None and known != stamp:
            release = getattr(self.inner, "release", None)
            if release is not None:
                await release(session.id)
        env = await self.inner.env_for(session)
        self._stamps[session.id] = stamp
        return env

    async def release(self, session_id: str) -> None:
        self._stamps.pop(session_id, None)
        release = getattr(self.inner, "release", None)
        if release is not None:
            await release(session_id)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)
