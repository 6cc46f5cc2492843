"""The engine, reached late: tools are built before wiring creates the engine, which then binds itself here."""

from __future__ import annotations

from dataclasses import dataclass

from dexa.core.engine import TurnEngine
from dexa.core.errors import ConfigError


@dataclass(slots=True)
class EngineLink:
    engine: TurnEngine | None = None

    def bind(self, engine: TurnEngine) -> None:
        self.engine = engine

    @property
    def bound(self) -> TurnEngine:
        if self.engine is None:
            raise ConfigError("the agent tools were never bound to the engine (call Extensions.bind)")
        return self.engine
