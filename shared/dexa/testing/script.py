"""The model script: what a scripted model says, turn by turn. Shared by ScriptedModel and the Messages-API fake.

File format (JSON)::

    {"turns": [
        {"text": "Let me look.", "tool_uses": [{"name": "Bash", "input": {"command": "ls"}}], "delay_ms": 20},
        {"error": {"status": 529, "times": 1}},
        {"thinking": "short plan", "text": "Done."}
    ]}

A turn may carry `text`, `thinking`, `tool_uses` (each `{"name", "input", "id"?}`), `delay_ms` (pause before
each streamed chunk), `stop_reason`, and `server_blocks` (raw API blocks such as `server_tool_use` and
`web_search_tool_result`, sent before the text). An `{"error": {...}}` entry (or an `error` key inside a turn) is
served before the next turn: `status` (required), `times` (default 1), `type`, `message`, `retry_after`,
`mid_stream` (the fake sends it as an SSE `error` event after the first content block).

Turn selection is stateless: a request with N assistant messages in its history gets turn N. A process
killed mid-run and resumed with the same history therefore gets the same next turn. Only error counters
are per-process state, so an injected error is served again after a restart (a retry then succeeds).
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dexa.core.errors import ConfigError

ERROR_TYPES: dict[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    503: "api_error",
    529: "overloaded_error",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class ScriptedToolUse:
    name: str
    input: dict[str, Any] = field(default_factory=dict[str, Any])
    id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ScriptedError:
    status: int
    times: int = 1
    type: str = ""
    message: str = ""
    retry_after: float | None = None
    # Served as an SSE `error` event after the first content block instead of an HTTP error status.
    mid_stream: bool = False

    @property
    def error_type(self) -> str:
        return self.type or ERROR_TYPES.get(self.status, "api_error" if self.status >= 500 else "invalid_request_error")

    @property
    def error_message(self) -> str:
        return self.message or f"scripted {self.error_type} ({self.status})"


@dataclass(frozen=True, slots=True, kw_only=True)
class Turn:
    """One assistant reply. Build with `text()`, `tool_use()`, `reply()`; combine with `+`."""

    text: str = ""
    thinking: str = ""
    tool_uses: tuple[ScriptedToolUse, ...] = ()
    delay_ms: int = 0
    stop_reason: str | None = None
    errors: tuple[ScriptedError, ...] = ()
    # Raw API content blocks sent before the text, e.g. server_tool_use + web_search_tool_result.
    server_blocks: tuple[dict[str, Any], ...] = ()

    def __add__(self, other: Turn) -> Turn:
        return Turn(
            text=self.text + other.text,
            thinking=self.thinking + other.thinking,
            tool_uses=self.tool_uses + other.tool_uses,
            delay_ms=max(self.delay_ms, other.delay_ms),
            stop_reason=other.stop_reason or self.stop_reason,
            errors=self.errors + other.errors,
            server_blocks=self.server_blocks + other.server_blocks,
        )

    @property
    def effective_stop_reason(self) -> str:
        return self.stop_reason or ("tool_use" if self.tool_uses else "end_turn")


@dataclass(frozen=True, slots=True, kw_only=True)
class Script:
    turns: tuple[Turn, ...]
    # Errors listed after the last turn: served, then the script is exhausted.
    trailing_errors: tuple[ScriptedError, ...] = ()
    source: str = "<script>"
    # A reactive script answers each request from its history (tool results included) instead of from `turns`;
    # it returns None when it has nothing more to say.
    responder: Callable[[Mapping[str, Any]], Turn | None] | None = None

    def for_request(self, body: Mapping[str, Any]) -> Script:
        """The script that serves this request: itself, or, when reactive, the responder's turn at its index."""
        if self.responder is None:
            return self
        messages: list[Any] = list(body.get("messages") or [])
        index = assistant_count(str(m.get("role", "")) for m in messages if isinstance(m, Mapping))
        turn = self.responder(body)
        return Script(turns=(Turn(),) * index + ((turn,) if turn is not None else ()), source=self.source)

    def errors_at(self, index: int) -> tuple[ScriptedError, ...]:
        if index < len(self.turns):
            return self.turns[index].errors
        return self.trailing_errors if index == len(self.turns) else ()

    @staticmethod
    def load(path: str | Path) -> Script:
        """Raises ConfigError naming the file and the bad field."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"model script {path}: cannot read: {exc}") from exc
        except json.JSONDecodeError as exc:
            raise ConfigError(f"model script {path}: invalid JSON: {exc}") from exc
        return Script.from_dict(data, source=str(path))

    @staticmethod
    def from_dict(data: Any, *, source: str = "<script>") -> Script:
        if not isinstance(data, Mapping) or not isinstance(data.get("turns"), list):  # pyright: ignore[reportUnknownMemberType]
            raise ConfigError(f"model script {source}: expected an object with a 'turns' list")
        raw_turns: list[Any] = list(data["turns"])  # pyright: ignore[reportUnknownArgumentType]
        turns: list[Turn] = []
        pending: list[ScriptedError] = []
        for i, raw in enumerate(raw_turns):
            where = f"model script {source}: turns[{i}]"
            if not isinstance(raw, Mapping):
                raise ConfigError(f"{where}: expected an object")
            entry: Mapping[str, Any] = raw  # pyright: ignore[reportUnknownVariableType]
            if "error" in entry:
                pending.append(_parse_error(entry["error"], f"{where}.error"))
            if set(entry) - {"error"}:
                turns.append(_parse_turn(entry, where, tuple(pending)))
                pending = []
        return Script(turns=tuple(turns), trailing_errors=tuple(pending), source=source)


class ErrorCounter:
    """How many times each injected error has been served in this process (thread-safe)."""

    def __init__(self) -> None:
        self._served: dict[tuple[int, int], int] = {}
        self._lock = threading.Lock()

    def take(self, index: int, errors: Iterable[ScriptedError]) -> ScriptedError | None:
        """The next error to serve at turn `index`, counting it as served; None when all are spent."""
        with self._lock:
            for k, error in enumerate(errors):
                served = self._served.get((index, k), 0)
                if served < error.times:
                    self._served[(index, k)] = served + 1
                    return error
        return None

    def reset(self) -> None:
        with self._lock:
            self._served.clear()


def assistant_count(roles: Iterable[str]) -> int:
    return sum(1 for role in roles if role == "assistant")


def stable_id(prefix: str, *parts: object, length: int = 24) -> str:
    """A deterministic API-safe id (`[A-Za-z0-9_]`) derived from `parts`."""
    digest = hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()
    return f"{prefix}{digest[:length]}"


def thinking_signature(thinking: str) -> str:
    """The fake's signature for a thinking block: lets the fake reject a block altered on the way back."""
    return "sig_" + hashlib.sha256(thinking.encode()).hexdigest()[:32]


def chunks(text: str, parts: int = 3) -> list[str]:
    """Split text into at most `parts` non-empty pieces on word boundaries (for streaming)."""
    if not text:
        return []
    words = text.split(" ")
    size = max(1, -(-len(words) // parts))
    pieces = [" ".join(words[i : i + size]) for i in range(0, len(words), size)]
    return [p + " " for p in pieces[:-1]] + [pieces[-1]]


def _parse_turn(entry: Mapping[str, Any], where: str, errors: tuple[ScriptedError, ...]) -> Turn:
    known = {"text", "thinking", "tool_uses", "delay_ms", "stop_reason", "error", "server_blocks"}
    unknown = sorted(set(entry) - known)
    if unknown:
        raise ConfigError(f"{where}: unknown field(s) {', '.join(unknown)}")
    text = entry.get("text", "")
    thinking = entry.get("thinking", "")
    if not isinstance(text, str) or not isinstance(thinking, str):
        raise ConfigError(f"{where}: 'text' and 'thinking' must be strings")
    raw_uses = entry.get("tool_uses", [])
    if not isinstance(raw_uses, list):
        raise ConfigError(f"{where}.tool_uses: expected a list")
    uses: list[ScriptedToolUse] = []
    for j, raw in enumerate(raw_uses):  # pyright: ignore[reportUnknownVariableType, reportUnknownArgumentType]
        if not isinstance(raw, Mapping) or not isinstance(raw.get("name"), str):  # pyright: ignore[reportUnknownMemberType]
            raise ConfigError(f"{where}.tool_uses[{j}]: expected an object with a string 'name'")
        use: Mapping[str, Any] = raw  # pyright: ignore[reportUnknownVariableType]
        tool_input = use.get("input", {})
        if not isinstance(tool_input, dict):
            raise ConfigError(f"{where}.tool_uses[{j}].input: expected an object")
        tool_id = use.get("id")
        uses.append(ScriptedToolUse(name=use["name"], input=dict(tool_input), id=str(tool_id) if tool_id else None))  # pyright: ignore[reportUnknownArgumentType]
    delay = entry.get("delay_ms", 0)
    if not isinstance(delay, int | float) or delay < 0:
        raise ConfigError(f"{where}.delay_ms: expected a non-negative number")
    stop = entry.get("stop_reason")
    raw_blocks = entry.get("server_blocks", [])
    if not isinstance(raw_blocks, list) or not all(isinstance(b, dict) and "type" in b for b in raw_blocks):  # pyright: ignore[reportUnknownVariableType]
        raise ConfigError(f"{where}.server_blocks: expected a list of content block objects with a 'type'")
    return Turn(
        text=text,
        thinking=thinking,
        tool_uses=tuple(uses),
        delay_ms=int(delay),
        stop_reason=str(stop) if stop else None,
        errors=errors,
        server_blocks=tuple(dict(b) for b in raw_blocks),  # pyright: ignore[reportUnknownArgumentType, reportUnknownVariableType]
    )


def _parse_error(raw: Any, where: str) -> ScriptedError:
    if not isinstance(raw, Mapping) or not isinstance(raw.get("status"), int):  # pyright: ignore[reportUnknownMemberType]
        raise ConfigError(f"{where}: expected an object with an integer 'status'")
    entry: Mapping[str, Any] = raw  # pyright: ignore[reportUnknownVariableType]
    times = entry.get("times", 1)
    if not isinstance(times, int) or times < 1:
        raise ConfigError(f"{where}.times: expected a positive integer")
    retry_after = entry.get("retry_after")
    if retry_after is not None and not isinstance(retry_after, int | float):
        raise ConfigError(f"{where}.retry_after: expected a number of seconds")
    return ScriptedError(
        status=int(entry["status"]),
        times=times,
        type=str(entry.get("type", "")),
        message=str(entry.get("message", "")),
        retry_after=float(retry_after) if retry_after is not None else None,
        mid_stream=bool(entry.get("mid_stream", False)),
    )
