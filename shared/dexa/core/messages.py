"""Messages we own. The model adapters translate to and from vendor types; the store keeps these.

The dict shape (`to_dict`/`message_from_dict`) follows the Anthropic Messages wire format on purpose: it is
stable, documented, and what Claude Code's stream-json already emits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Role = Literal["user", "assistant"]


@dataclass(frozen=True, slots=True, kw_only=True)
class TextBlock:
    text: str
    type: Literal["text"] = "text"


@dataclass(frozen=True, slots=True, kw_only=True)
class ThinkingBlock:
    thinking: str
    signature: str = ""
    type: Literal["thinking"] = "thinking"


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolUseBlock:
    id: str
    name: str
    input: dict[str, Any]
    type: Literal["tool_use"] = "tool_use"


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerToolBlock:
    """Server-side tool traffic (web search) kept verbatim so it can be replayed to the API."""

    raw: dict[str, Any]
    type: Literal["server_tool"] = "server_tool"


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolResultBlock:
    tool_use_id: str
    content: str
    is_error: bool = False
    type: Literal["tool_result"] = "tool_result"


Block = TextBlock | ThinkingBlock | ToolUseBlock | ToolResultBlock | ServerToolBlock


@dataclass(frozen=True, slots=True, kw_only=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            cache_creation_input_tokens=self.cache_creation_input_tokens + other.cache_creation_input_tokens,
            cache_read_input_tokens=self.cache_read_input_tokens + other.cache_read_input_tokens,
        )

    def to_dict(self) -> dict[str, int]:
        return {
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cache_creation_input_tokens": self.cache_creation_input_tokens,
            "cache_read_input_tokens": self.cache_read_input_tokens,
        }

    @staticmethod
    def from_dict(data: dict[str, Any] | None) -> Usage:
        data = data or {}
        return Usage(
            input_tokens=int(data.get("input_tokens") or 0),
            output_tokens=int(data.get("output_tokens") or 0),
            cache_creation_input_tokens=int(data.get("cache_creation_input_tokens") or 0),
            cache_read_input_tokens=int(data.get("cache_read_input_tokens") or 0),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Message:
    """One conversation message. `id` is deterministic within a session so appends are idempotent."""

    id: str
    role: Role
    content: tuple[Block, ...]
    model: str | None = None
    stop_reason: str | None = None
    usage: Usage = field(default_factory=Usage)
    # A synthetic message (compaction summary, hook context) is shown to the model but marked for clients.
    synthetic: bool = False

    @property
    def text(self) -> str:
        return "".join(b.text for b in self.content if isinstance(b, TextBlock))

    @property
    def tool_uses(self) -> list[ToolUseBlock]:
        return [b for b in self.content if isinstance(b, ToolUseBlock)]

    @property
    def tool_results(self) -> list[ToolResultBlock]:
        return [b for b in self.content if isinstance(b, ToolResultBlock)]


def block_to_dict(block: Block) -> dict[str, Any]:
    if isinstance(block, TextBlock):
        return {"type": "text", "text": block.text}
    if isinstance(block, ThinkingBlock):
        return {"type": "thinking", "thinking": block.thinking, "signature": block.signature}
    if isinstance(block, ToolUseBlock):
        return {"type": "tool_use", "id": block.id, "name": block.name, "input": block.input}
    if isinstance(block, ServerToolBlock):
        return dict(block.raw)
    return {
        "type": "tool_result",
        "tool_use_id": block.tool_use_id,
        "content": block.content,
        "is_error": block.is_error,
    }


def block_from_dict(data: dict[str, Any]) -> Block:
    kind = data.get("type")
    if kind == "text":
        return TextBlock(text=str(data.get("text", "")))
    if kind == "thinking":
        return ThinkingBlock(thinking=str(data.get("thinking", "")), signature=str(data.get("signature", "")))
    if kind == "tool_use":
        return ToolUseBlock(id=str(data["id"]), name=str(data["name"]), input=dict(data.get("input") or {}))
    if kind == "tool_result":
        content = data.get("content", "")
        if isinstance(content, list):
            parts: list[str] = []
            for part in content:  # pyright: ignore[reportUnknownVariableType]
                if isinstance(part, dict) and part.get("type") == "text":  # pyright: ignore[reportUnknownMemberType]
                    parts.append(str(part.get("text", "")))  # pyright: ignore[reportUnknownMemberType, reportUnknownArgumentType]
            content = "\n".join(parts)
        return ToolResultBlock(
            tool_use_id=str(data["tool_use_id"]), content=str(content), is_error=bool(data.get("is_error", False))
        )
    return ServerToolBlock(raw=dict(data))


def message_to_dict(message: Message) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": message.id,
        "role": message.role,
        "content": [block_to_dict(b) for b in message.content],
    }
    if message.model:
        out["model"] = message.model
    if message.stop_reason:
        out["stop_reason"] = message.stop_reason
    if message.role == "assistant":
        out["usage"] = message.usage.to_dict()
    if message.synthetic:
        out["synthetic"] = True
    return out


def message_from_dict(data: dict[str, Any]) -> Message:
    raw_content = data.get("content", [])
    if isinstance(raw_content, str):
        blocks: tuple[Block, ...] = (TextBlock(text=raw_content),)
    else:
        blocks = tuple(block_from_dict(b) for b in raw_content)  # pyright: ignore[reportUnknownVariableType, reportUnknownArgumentType]
    role = data.get("role", "user")
    return Message(
        id=str(data.get("id", "")),
        role="assistant" if role == "assistant" else "user",
        content=blocks,
        model=data.get("model"),
        stop_reason=data.get("stop_reason"),
        usage=Usage.from_dict(data.get("usage")),
        synthetic=bool(data.get("synthetic", False)),
    )


def user_text(message_id: str, text: str) -> Message:
    return Message(id=message_id, role="user", content=(TextBlock(text=text),))
