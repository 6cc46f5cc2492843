"""Blocking or non-blocking, per staged output: does the agent wait for the reviewer's decision?

blocking      the turn parks (like a tool approval) until the output is decided; the agent continues with the
              execution's result, the failure, or the rejection as the tool result.
non_blocking  the tool result says "staged as out_..."; the agent goes on, and the decision reaches the session as
              an event and as a note its next turn sees.

Chosen in the org's output policy document under "modes", most specific first:
    {"modes": {"tools": {"git/git_commit": "blocking"}, "output_types": {"sql_change": "blocking"},
               "default": "non_blocking"}}
The built-in default is non_blocking for every output type (the reviewer may take hours; the agent should not).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from dexa.core.errors import ConfigError

from .models import OUTPUT_MODES, OutputMode

DEFAULT_MODE: OutputMode = "non_blocking"


def _mode(value: Any, where: str) -> OutputMode:
    if value not in OUTPUT_MODES:
        raise ConfigError(f"output policy: modes.{where} = {value!r}; expected one of {sorted(OUTPUT_MODES)}")
    return cast(OutputMode, value)


def _table(raw: Any, where: str) -> dict[str, OutputMode]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise ConfigError(f"output policy: modes.{where} must be an object of modes")
    table = cast(Mapping[str, Any], raw)
    return {str(k): _mode(v, f"{where}.{k}") for k, v in table.items()}


@dataclass(frozen=True, slots=True, kw_only=True)
class OutputModes:
    default: OutputMode | None = None
    output_types: dict[str, OutputMode] = field(default_factory=dict)
    # "server/tool" keys.
    tools: dict[str, OutputMode] = field(default_factory=dict)

    @staticmethod
    def from_dict(data: Mapping[str, Any] | None) -> OutputModes:
        """Raises ConfigError naming the bad field."""
        data = data or {}
        if not isinstance(data, Mapping):
            raise ConfigError("output policy: modes must be an object")
        default = data.get("default")
        return OutputModes(
            default=None if default is None else _mode(default, "default"),
            output_types=_table(data.get("output_types"), "output_types"),
            tools=_table(data.get("tools"), "tools"),
        )

    def to_dict(self) -> dict[str, Any]:
        return {"default": self.default, "output_types": self.output_types, "tools": self.tools}

    def choose(self, *, server: str, tool: str, kind: str) -> tuple[OutputMode, str]:
        """(mode, the rule that chose it)."""
        levels: tuple[tuple[OutputMode | None, str], ...] = (
            (self.tools.get(f"{server}/{tool}"), f"modes.tools.{server}/{tool}"),
            (self.output_types.get(kind), f"modes.output_types.{kind}"),
            (self.default, "modes.default"),
        )
        for value, rule in levels:
            if value is not None:
                return value, rule
        return DEFAULT_MODE, "default"

    @staticmethod
    def first(tables: Sequence[OutputModes], *, server: str, tool: str, kind: str) -> tuple[OutputMode, str]:
        """Across policies, most authoritative first: the first that names the tool or type, else the first default."""
        for table in tables:
            mode, rule = table.choose(server=server, tool=tool, kind=kind)
            if rule.startswith(("modes.tools.", "modes.output_types.")):
                return mode, rule
        for table in tables:
            if table.default is not None:
                return table.default, "modes.default"
        return DEFAULT_MODE, "default"
