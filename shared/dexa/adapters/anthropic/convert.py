"""Pure translation between Dexa messages and Anthropic Messages API dicts.

Nothing here talks to the network, so it is shared by the first-party and Bedrock clients and tested alone.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from typing import Any

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
from dexa.core.ports import ModelRequest, ToolSpec

EPHEMERAL: dict[str, str] = {"type": "ephemeral"}
# The API allows at most 4 cache breakpoints per request.
MAX_CACHE_BREAKPOINTS = 4
MIN_THINKING_BUDGET = 1024
# An assistant message with no content is rejected by the API; Claude Code sends this placeholder too.
EMPTY_CONTENT_PLACEHOLDER = "(no content)"

Json = dict[str, Any]


def tool_param(spec: ToolSpec) -> Json:
    """A client tool as its JSON schema; a server tool (web search) by type, its `input_schema` as options."""
    if spec.server_type:
        return {"type": spec.server_type, "name": spec.name, **spec.input_schema}
    return {"name": spec.name, "description": spec.description, "input_schema": spec.input_schema}


def block_param(block: Block) -> Json | None:
    """One Dexa block as an API content block; None for blocks the API would reject."""
    if isinstance(block, TextBlock):
        return {"type": "text", "text": block.text} if block.text else None
    if isinstance(block, ThinkingBlock):
        # An unsigned thinking block (e.g. from a scripted model) cannot be verified by the API.
        if not block.signature:
            return None
        return {"type": "thinking", "thinking": block.thinking, "signature": block.signature}
    if isinstance(block, ToolUseBlock):
        return {"type": "tool_use", "id": block.id, "name": block.name, "input": block.input}
    if isinstance(block, ToolResultBlock):
        out: Json = {"type": "tool_result", "tool_use_id": block.tool_use_id}
        if block.content:
            out["content"] = block.content
        if block.is_error:
            out["is_error"] = True
        return out
    raw = copy.deepcopy(block.raw)
    raw.pop("cache_control", None)
    return raw


def message_param(message: Message) -> Json:
    content = [p for p in (block_param(b) for b in message.content) if p is not None]
    if not content:
        content = [{"type": "text", "text": EMPTY_CONTENT_PLACEHOLDER}]
    return {"role": message.role, "content": content}


def apply_cache_breakpoints(system: list[Json], tools: list[Json], messages: list[Json]) -> int:
    """Mark the stable prefix for prompt caching; returns how many breakpoints were placed (at most 4).

    Order of priority: last system block, last tool, last block of the last user message, then the user
    message before it (so the previous request's breakpoint is read back from the cache).
    """
    targets: list[Json] = []
    if system:
        targets.append(system[-1])
    if tools:
        targets.append(tools[-1])
    user_indexes = [i for i, m in enumerate(messages) if m["role"] == "user"]
    for i in reversed(user_indexes[-2:]):
        content: list[Json] = messages[i]["content"]
        cacheable = [b for b in content if b.get("type") not in ("thinking", "redacted_thinking")]
        if cacheable:
            targets.append(cacheable[-1])
    for block in targets[:MAX_CACHE_BREAKPOINTS]:
        block["cache_control"] = dict(EPHEMERAL)
    return min(len(targets), MAX_CACHE_BREAKPOINTS)


def thinking_param(budget: int | None, max_tokens: int) -> tuple[Json | None, int]:
    """(thinking config or None, max_tokens to send). Budget 0/None means off; it must stay below max_tokens."""
    if not budget:
        return None, max_tokens
    budget = max(MIN_THINKING_BUDGET, budget)
    max_tokens = max(max_tokens, budget + 1)
    return {"type": "enabled", "budget_tokens": budget}, max_tokens


def build_params(
    request: ModelRequest,
    *,
    model_id: str,
    max_tokens: int,
    thinking_budget: int | None = None,
    prompt_caching: bool = True,
) -> Json:
    """Keyword arguments for `messages.create` (without `stream`)."""
    system = [{"type": "text", "text": request.system}] if request.system else []
    tools = [tool_param(t) for t in request.tools]
    messages = [message_param(m) for m in request.messages]
    if prompt_caching:
        apply_cache_breakpoints(system, tools, messages)
    thinking, max_tokens = thinking_param(thinking_budget, max_tokens)
    params: Json = {"model": model_id, "max_tokens": max_tokens, "messages": messages}
    if system:
        params["system"] = system
    if tools:
        params["tools"] = tools
    if thinking is not None:
        params["thinking"] = thinking
    return params


def block_from_api(raw: Json) -> Block:
    """An API content block as a Dexa block; anything unknown is kept verbatim for replay."""
    kind = raw.get("type")
    if kind == "text":
        return TextBlock(text=str(raw.get("text", "")))
    if kind == "thinking":
        return ThinkingBlock(thinking=str(raw.get("thinking", "")), signature=str(raw.get("signature", "")))
    if kind == "tool_use":
        tool_input: Any = raw.get("input")
        return ToolUseBlock(
            id=str(raw["id"]),
            name=str(raw["name"]),
            input=dict(tool_input) if isinstance(tool_input, dict) else {},  # pyright: ignore[reportUnknownArgumentType]
        )
    return ServerToolBlock(raw=dict(raw))


def blocks_from_api(raws: Iterable[Json]) -> tuple[Block, ...]:
    return tuple(block_from_api(r) for r in raws)


def usage_from_api(*parts: Json | None) -> Usage:
    """Merge usage dicts (message_start, then message_delta): later non-null values win."""
    merged: dict[str, int] = {}
    for part in parts:
        for key, value in (part or {}).items():
            if isinstance(value, int) and key in (
                "input_tokens",
                "output_tokens",
                "cache_creation_input_tokens",
                "cache_read_input_tokens",
            ):
                merged[key] = value
    return Usage.from_dict(dict(merged))


def answer_with_sources(blocks: Sequence[Json]) -> str:
    """Render a web-search reply: the model's text, then each result's title and URL once."""
    text_parts: list[str] = []
    sources: list[str] = []
    seen: set[str] = set()
    errors: list[str] = []
    for block in blocks:
        kind = block.get("type")
        if kind == "text":
            text_parts.append(str(block.get("text", "")))
        elif kind == "web_search_tool_result":
            content: Any = block.get("content")
            if isinstance(content, dict):
                errors.append(str(content.get("error_code", "unknown_error")))  # pyright: ignore[reportUnknownMemberType, reportUnknownArgumentType]
                continue
            for item in content or []:  # pyright: ignore[reportUnknownVariableType]
                url = str(item.get("url", ""))  # pyright: ignore[reportUnknownMemberType, reportUnknownArgumentType]
                if url and url not in seen:
                    seen.add(url)
                    sources.append(f"- {item.get('title') or url}: {url}")  # pyright: ignore[reportUnknownMemberType]
    out = "".join(text_parts).strip()
    if errors:
        out += ("\n\n" if out else "") + "Web search error: " + ", ".join(errors)
    if sources:
        out += ("\n\n" if out else "") + "Sources:\n" + "\n".join(sources)
    return out
