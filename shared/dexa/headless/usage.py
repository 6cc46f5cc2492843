"""What the headless result reports about model use, measured from the events of this process's run.

Claude Code's `result` carries `usage` for the turn, and `modelUsage`, `total_cost_usd` and `duration_api_ms` for
the whole process so far; `modelUsage` is keyed by the full model id the API answered with, in camelCase, with the
client-side cost estimate as `costUSD`. The Agent SDKs read these fields, so they are built here from the `usage`
and `message.assistant` events rather than from the session's stored totals (which span earlier runs too).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dexa.core.events import Event, EventType
from dexa.core.messages import Usage
from dexa.core.models import context_window

MAX_OUTPUT_TOKENS = 8192  # what Dexa asks for per call (SessionEnv.max_output_tokens)


@dataclass(slots=True)
class ModelTotals:
    usage: Usage = field(default_factory=Usage)
    cost_usd: float = 0.0

    def to_wire(self, model_id: str) -> dict[str, Any]:
        return {
            "inputTokens": self.usage.input_tokens,
            "outputTokens": self.usage.output_tokens,
            "cacheReadInputTokens": self.usage.cache_read_input_tokens,
            "cacheCreationInputTokens": self.usage.cache_creation_input_tokens,
            "webSearchRequests": 0,
            "costUSD": round(self.cost_usd, 6),
            "contextWindow": context_window(model_id),
            "maxOutputTokens": MAX_OUTPUT_TOKENS,
        }


@dataclass(slots=True)
class UsageMeter:
    """Fed every event the run streams; read when a turn's result is printed."""

    models: dict[str, ModelTotals] = field(default_factory=dict[str, ModelTotals])
    since_result: dict[str, ModelTotals] = field(default_factory=dict[str, ModelTotals])
    turn_usage: Usage = field(default_factory=Usage)
    api_ms: int = 0

    def feed(self, event: Event) -> None:
        data = event.data
        if event.type == EventType.USAGE and data.get("model"):
            usage = Usage.from_dict(data.get("usage"))
            cost = float(data.get("cost_usd") or 0.0)
            for book in (self.models, self.since_result):
                totals = book.setdefault(str(data["model"]), ModelTotals())
                totals.usage = totals.usage + usage
                totals.cost_usd += cost
            self.turn_usage = self.turn_usage + usage
        elif event.type == EventType.MESSAGE_ASSISTANT:
            self.api_ms += int(data.get("duration_ms") or 0)

    def model_usage(self) -> dict[str, Any]:
        return {model: totals.to_wire(model) for model, totals in self.models.items()}

    def take_turn(self) -> tuple[Usage, dict[str, Any]]:
        """This turn's usage and per-model use since the last result; both start over for the next turn."""
        usage, since = self.turn_usage, {m: t.to_wire(m) for m, t in self.since_result.items()}
        self.turn_usage, self.since_result = Usage(), {}
        return usage, since
