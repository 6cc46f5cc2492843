"""What the step mixins need from the engine; TurnEngine provides the real implementations."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from .bus import Notifier
from .environment import EnvFactory, SessionEnv
from .events import Event
from .ports import Store
from .session import Session, TurnState

StepResult = Literal["next", "wait", "done"]


class StepHost:
    store: Store
    envs: EnvFactory
    notifier: Notifier

    async def emit(self, session_id: str, type: str, data: Mapping[str, Any]) -> Event:
        raise NotImplementedError

    async def advance(self, session: Session, state: TurnState | None, **changes: Any) -> Session:
        raise NotImplementedError

    async def _finish(
        self, session: Session, state: TurnState, env: SessionEnv, *, result: str, subtype: str, error: str = ""
    ) -> StepResult:
        raise NotImplementedError

    def hook_payload(self, session: Session, env: SessionEnv, event: str, **extra: Any) -> dict[str, Any]:
        raise NotImplementedError
