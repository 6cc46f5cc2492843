"""Session environments kept across the invocations of a warm container, rebuilt when their session changed.

Building a SessionEnv (settings files, tool registry, MCP configuration, the workspace client) is the costliest part
of a step that finds nothing built, so a warm step container keeps each session's. The key is the session id plus a
stamp of what the environment is built from (org, user, working directory, model, the session's configuration):
a session changed since, in any of those, through the API or by another container, is released and built afresh.
Limits read live on every step (max turns, budget) are left out of the stamp, so raising a budget rebuilds nothing.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from dexa.core.environment import EnvFactory, SessionEnv
from dexa.core.session import Session

# SessionConfig fields the steps read from the session itself on every use.
_LIVE_FIELDS = ("max_turns", "max_budget_usd")


def env_stamp(session: Session) -> str:
    """A digest of everything about the session that shapes its environment."""
    config = {k: v for k, v in session.config.to_dict().items() if k not in _LIVE_FIELDS}
    shape = {
        "org": session.org_id,
        "user": session.user_id,
        "cwd": session.cwd,
        "model": session.model,
        "config": config,
    }
    return hashlib.sha256(json.dumps(shape, sort_keys=True, default=str).encode()).hexdigest()[:16]


class StampedEnvs:
    """An EnvFactory over another (which caches by session id): releases a session's environment once its stamp
    changed, so the next env_for builds it from the session as it is now. Everything else passes through."""

    def __init__(self, inner: EnvFactory) -> None:
        self.inner = inner
        self._stamps: dict[str, str] = {}

    async def env_for(self, session: Session) -> SessionEnv:
        stamp = env_stamp(session)
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
