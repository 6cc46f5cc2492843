"""What the step mixins need from the engine; TurnEngine provides the real implementations."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Literal

from .bus import Notifier
from .environment import EnvFactory, SessionEnv
from .errors import ConflictError
from .events import Event
from .messages import Message
from .ports import Store
from .session import Session, TurnState
from .tools import SessionState

StepResult = Literal["next", "wait", "done"]
# Conditional writes of one session change that may lose to writes made elsewhere before it is given up.
UPDATE_ATTEMPTS = 4


class StepHost:
    store: Store
    envs: EnvFactory
    notifier: Notifier

    async def emit(self, session_id: str, type: str, data: Mapping[str, Any]) -> Event:
        raise NotImplementedError

    async def advance(self, session: Session, state: TurnState | None, **changes: Any) -> Session:
        raise NotImplementedError

    async def _finish(
        self,
        session: Session,
        state: TurnState,
        env: SessionEnv | None,
        *,
        result: str,
        subtype: str,
        error: str = "",
        status: str | None = None,
    ) -> StepResult:
        raise NotImplementedError

    def hook_payload(self, session: Session, env: SessionEnv, event: str, **extra: Any) -> dict[str, Any]:
        raise NotImplementedError

    async def update_latest(self, session_id: str, change: Callable[[Session], Session]) -> Session:
        """Write `change` applied to the session as stored; returns what was written.

        The write is conditional on the version it was applied to, so a change made elsewhere meanwhile (a cancel, a
        mode switch through the API) is never overwritten: the change is applied again to a fresh read. A store that
        remembers the session this process last read or wrote (DynamoStore.recalled) saves the read before the write
        in the usual case, where nothing else wrote since (one round trip per step boundary instead of two).
        """
        recalled: Callable[[str], Session | None] | None = getattr(self.store, "recalled", None)
        base = recalled(session_id) if recalled is not None else None
        for attempt in range(UPDATE_ATTEMPTS):
            if base is None:
                base = await self.store.get_session(session_id)
            try:
                return await self.store.update_session(change(base), expect_version=base.version)
            except ConflictError:
                if attempt == UPDATE_ATTEMPTS - 1:
                    raise
                base = None
        raise AssertionError("unreachable")

    async def _message(self, session_id: str, message_id: str) -> Message | None:
        """A message by id, hidden ones included (compaction and rewind hide, never delete)."""
        for m in await self.store.list_messages(session_id, include_hidden=True):
            if m.id == message_id:
                return m
        return None

    async def _assistant(self, session_id: str, state: TurnState) -> Message:
        mid = f"t{state.turn}a{state.model_calls - 1}"
        message = await self._message(session_id, mid)
        if message is None:
            raise LookupError(f"assistant message {mid} missing from session {session_id}")
        return message

    async def load_state(self, session: Session) -> SessionState:
        doc = await self.store.kv_get("tool_state", session.id) or {}
        return SessionState.from_dict(doc, default_cwd=session.cwd)

    async def save_state(self, session_id: str, state: SessionState) -> None:
        await self.store.kv_put("tool_state", session_id, state.to_dict())
