"""In-process scripted models: the test double for `dexa.core.ports.Model`.

    model = ScriptedModel([tool_use("Bash", {"command": "ls"}), text("done")])
    ... run the agent ...
    model.assert_complete()
    assert model.calls[1].messages[-1].tool_results

Built from a list, steps are consumed in order. Built with `from_file`, the step is chosen from the request
itself (see `dexa.testing.script`), so a crashed and resumed process continues where it left off.
"""

from __future__ import annotations

import inspect
import json
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import anyio

from dexa.core.errors import (
    ModelError,
    ModelRateLimitError,
    ModelRequestError,
    ModelUnavailableError,
)
from dexa.core.messages import (
    Block,
    Message,
    ServerToolBlock,
    TextBlock,
    ThinkingBlock,
    ToolResultBlock,
    ToolUseBlock,
    Usage,
)
from dexa.core.ports import DeltaSink, ModelRequest, ModelResponse, StreamDelta

from .script import (
    ErrorCounter,
    Script,
    ScriptedError,
    ScriptedToolUse,
    Turn,
    assistant_count,
    chunks,
    stable_id,
    thinking_signature,
)

Step = Turn | BaseException
StepLike = Turn | BaseException | str | Sequence[Turn]
StepFn = Callable[[ModelRequest], "StepLike | Awaitable[StepLike]"]


class UnexpectedModelCall(ModelRequestError):
    """The scripted model was called more times than its script allows."""

    code = "unexpected_model_call"


def text(value: str) -> Turn:
    return Turn(text=value)


def thinking(value: str) -> Turn:
    return Turn(thinking=value)


def tool_use(name: str, input: dict[str, Any] | None = None, id: str | None = None) -> Turn:
    return Turn(tool_uses=(ScriptedToolUse(name=name, input=dict(input or {}), id=id),))


def reply(text: str = "", *tool_uses: Turn, stop_reason: str | None = None, delay_ms: int = 0) -> Turn:
    """A step with text and any number of tool uses: `reply("Looking", tool_use("Read", {...}))`."""
    turn = Turn(text=text, stop_reason=stop_reason, delay_ms=delay_ms)
    for use in tool_uses:
        turn = turn + use
    return turn


def error_for(error: ScriptedError) -> ModelError:
    """The Dexa error a real adapter would raise for this HTTP failure."""
    message = f"{error.status} {error.error_type}: {error.error_message}"
    if error.status == 429:
        return ModelRateLimitError(message, status=error.status)
    if error.status >= 500 or error.error_type == "overloaded_error":
        return ModelUnavailableError(message, status=error.status)
    return ModelRequestError(message, status=error.status)


class _ScriptedBase:
    """Records calls and turns a Turn into a streamed ModelResponse."""

    name: str

    def __init__(self, name: str) -> None:
        self.name = name
        self.calls: list[ModelRequest] = []
        self.unexpected_calls: int = 0

    async def _respond(
        self, request: ModelRequest, turn: Turn, index: int, on_delta: DeltaSink | None
    ) -> ModelResponse:
        started = time.monotonic()
        blocks: list[Block] = []
        output_chars = 0
        block_index = 0
        if turn.thinking:
            for piece in chunks(turn.thinking):
                await self._emit(on_delta, turn, StreamDelta(kind="thinking", text=piece, index=block_index))
            blocks.append(ThinkingBlock(thinking=turn.thinking, signature=thinking_signature(turn.thinking)))
            output_chars += len(turn.thinking)
            block_index += 1
        blocks.extend(ServerToolBlock(raw=dict(raw)) for raw in turn.server_blocks)
        block_index += len(turn.server_blocks)
        if turn.text:
            for piece in chunks(turn.text):
                await self._emit(on_delta, turn, StreamDelta(kind="text", text=piece, index=block_index))
            blocks.append(TextBlock(text=turn.text))
            output_chars += len(turn.text)
            block_index += 1
        seed = request.response_id or _history_seed(request)
        for k, use in enumerate(turn.tool_uses):
            tool_id = use.id or stable_id("toolu_", seed, index, k)
            raw = json.dumps(use.input)
            for piece in _json_pieces(raw):
                delta = StreamDelta(
                    kind="tool_input", text=piece, index=block_index, data={"id": tool_id, "name": use.name}
                )
                await self._emit(on_delta, turn, delta)
            blocks.append(ToolUseBlock(id=tool_id, name=use.name, input=dict(use.input)))
            output_chars += len(raw) + len(use.name)
            block_index += 1
        usage = Usage(input_tokens=max(1, _request_chars(request) // 4), output_tokens=max(1, output_chars // 4))
        model = request.model or self.name
        message = Message(
            id=request.response_id or stable_id("msg_", seed, index),
            role="assistant",
            content=tuple(blocks),
            model=model,
            stop_reason=turn.effective_stop_reason,
            usage=usage,
        )
        duration = int((time.monotonic() - started) * 1000)
        return ModelResponse(message=message, usage=usage, model=model, duration_ms=duration)

    @staticmethod
    async def _emit(on_delta: DeltaSink | None, turn: Turn, delta: StreamDelta) -> None:
        if turn.delay_ms:
            await anyio.sleep(turn.delay_ms / 1000)
        if on_delta is not None:
            await on_delta(delta)

    def _unexpected(self, detail: str) -> UnexpectedModelCall:
        self.unexpected_calls += 1
        return UnexpectedModelCall(f"{self.name}: unexpected model call #{len(self.calls)}: {detail}")


class ScriptedModel(_ScriptedBase):
    """Replays scripted steps: a Turn (text / tool uses / thinking) or an exception instance to raise."""

    def __init__(self, steps: Iterable[StepLike] = (), *, name: str = "scripted") -> None:
        super().__init__(name)
        self.steps: list[Step] = [_to_step(s) for s in steps]
        self._script: Script | None = None
        self._errors = ErrorCounter()
        self._position = 0

    @classmethod
    def from_file(cls, path: str | Path) -> ScriptedModel:
        """Stateless file mode: the turn is chosen by counting assistant messages in the request.

        Raises ConfigError naming the file and field when the script is malformed.
        """
        return cls.from_script(Script.load(path), name=f"scripted:{path}")

    @classmethod
    def from_script(cls, script: Script, *, name: str = "scripted") -> ScriptedModel:
        model = cls(name=name)
        model._script = script
        return model

    async def complete(self, request: ModelRequest, on_delta: DeltaSink | None = None) -> ModelResponse:
        self.calls.append(request)
        if self._script is not None:
            return await self._complete_from_script(self._script, request, on_delta)
        if self._position >= len(self.steps):
            raise self._unexpected(f"script has {len(self.steps)} step(s)")
        index = self._position
        step = self.steps[index]
        self._position += 1
        if isinstance(step, BaseException):
            raise step
        return await self._respond(request, step, index, on_delta)

    async def _complete_from_script(
        self, script: Script, request: ModelRequest, on_delta: DeltaSink | None
    ) -> ModelResponse:
        index = assistant_count(m.role for m in request.messages)
        error = self._errors.take(index, script.errors_at(index))
        if error is not None:
            raise error_for(error)
        if index >= len(script.turns):
            raise self._unexpected(f"{script.source} has {len(script.turns)} turn(s); history asks for #{index + 1}")
        return await self._respond(request, script.turns[index], index, on_delta)

    @property
    def remaining(self) -> int:
        return max(0, len(self.steps) - self._position) if self._script is None else 0

    def assert_complete(self) -> None:
        """Fail when steps were left unused or the model was called past the end of its script."""
        if self.unexpected_calls:
            raise AssertionError(f"{self.name}: {self.unexpected_calls} unexpected model call(s)")
        if self.remaining:
            raise AssertionError(f"{self.name}: {self.remaining} of {len(self.steps)} step(s) never used")


class FunctionModel(_ScriptedBase):
    """Replies computed from the request: `FunctionModel(lambda req: text(f"saw {len(req.messages)}"))`."""

    def __init__(self, fn: StepFn, *, name: str = "function") -> None:
        super().__init__(name)
        self._fn = fn

    async def complete(self, request: ModelRequest, on_delta: DeltaSink | None = None) -> ModelResponse:
        self.calls.append(request)
        result = self._fn(request)
        if inspect.isawaitable(result):
            result = await result
        step = _to_step(result)
        if isinstance(step, BaseException):
            raise step
        return await self._respond(request, step, len(self.calls) - 1, on_delta)


def last_tool_results(request: ModelRequest) -> list[ToolResultBlock]:
    """The tool results the model is being shown in this request (handy inside FunctionModel functions)."""
    for message in reversed(request.messages):
        if message.role == "user":
            return message.tool_results
    return []


def _to_step(value: Any) -> Step:
    if isinstance(value, Turn | BaseException):
        return value
    if isinstance(value, str):
        return Turn(text=value)
    if isinstance(value, list | tuple):
        merged = Turn()
        for part in value:  # pyright: ignore[reportUnknownVariableType]
            if not isinstance(part, Turn):
                raise TypeError(f"a combined step may only hold Turn values, got {type(part).__name__}")  # pyright: ignore[reportUnknownArgumentType]
            merged = merged + part
        return merged
    raise TypeError(f"a scripted step must be a Turn, str, list of Turns or exception, got {type(value).__name__}")


def _history_seed(request: ModelRequest) -> str:
    first = request.messages[0] if request.messages else None
    return f"{request.system[:200]}|{first.text[:200] if first else ''}"


def _request_chars(request: ModelRequest) -> int:
    total = len(request.system)
    for message in request.messages:
        for block in message.content:
            if isinstance(block, TextBlock):
                total += len(block.text)
            elif isinstance(block, ToolResultBlock):
                total += len(block.content)
            elif isinstance(block, ToolUseBlock):
                total += len(json.dumps(block.input))
    for tool in request.tools:
        total += len(tool.description) + len(json.dumps(tool.input_schema))
    return total


def _json_pieces(raw: str, parts: int = 3) -> list[str]:
    size = max(1, -(-len(raw) // parts))
    return [raw[i : i + size] for i in range(0, len(raw), size)]
