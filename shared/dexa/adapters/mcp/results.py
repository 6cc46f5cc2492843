"""Turning MCP results (tool calls, resources, prompts) into text for the model, under the output cap."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import mcp.types as types

# Claude Code counts tokens; without a tokenizer in the loop, ~4 characters per token is the usual estimate.
CHARS_PER_TOKEN = 4


@dataclass(frozen=True, slots=True, kw_only=True)
class Rendered:
    text: str
    is_error: bool
    tokens: int
    truncated: bool = False
    data: dict[str, Any] = field(default_factory=dict)


def estimate_tokens(text: str) -> int:
    return -(-len(text) // CHARS_PER_TOKEN)


def _block_text(block: Any) -> str:
    if isinstance(block, types.TextContent):
        return block.text
    if isinstance(block, types.ImageContent):
        return f"[image {block.mime_type}, {len(block.data) * 3 // 4} bytes]"
    if isinstance(block, types.AudioContent):
        return f"[audio {block.mime_type}, {len(block.data) * 3 // 4} bytes]"
    if isinstance(block, types.ResourceLink):
        label = block.title or block.name
        return f"[resource link: {label} <{block.uri}>" + (f" {block.description}" if block.description else "") + "]"
    if isinstance(block, types.EmbeddedResource):
        return resource_text(block.resource)
    return f"[{getattr(block, 'type', 'unknown')} content]"


def resource_text(contents: Any) -> str:
    if isinstance(contents, types.TextResourceContents):
        return contents.text
    if isinstance(contents, types.BlobResourceContents):
        mime = contents.mime_type or "application/octet-stream"
        return f"[binary resource {contents.uri} ({mime}, {len(contents.blob) * 3 // 4} bytes)]"
    return str(contents)


def cap(text: str, *, max_tokens: int, max_chars: int | None = None) -> tuple[str, bool]:
    """Apply MAX_MCP_OUTPUT_TOKENS (or a tool's own `maxResultSizeChars`) with a notice the model can act on."""
    limit = max_chars if max_chars is not None else max_tokens * CHARS_PER_TOKEN
    if len(text) <= limit:
        return text, False
    dropped = estimate_tokens(text[limit:])
    notice = (
        f"\n\n[output truncated: about {dropped} more tokens were dropped because the result exceeded the "
        f"MCP output limit of {limit} characters; ask the tool for a smaller page or a narrower query]"
    )
    return text[:limit] + notice, True


def render_call(result: types.CallToolResult, *, max_tokens: int, max_chars: int | None = None) -> Rendered:
    parts = [_block_text(b) for b in result.content]
    text = "\n".join(p for p in parts if p)
    structured = result.structured_content
    if structured is not None and not text.strip():
        text = json.dumps(structured, indent=2, default=str)
    if not text:
        text = "(the tool returned no content)"
    tokens = estimate_tokens(text)
    capped, truncated = cap(text, max_tokens=max_tokens, max_chars=max_chars)
    data: dict[str, Any] = {"structured_content": structured} if structured is not None else {}
    return Rendered(text=capped, is_error=bool(result.is_error), tokens=tokens, truncated=truncated, data=data)


def render_prompt(result: types.GetPromptResult) -> list[dict[str, str]]:
    """Prompt messages as plain role/text pairs (how `/mcp__server__prompt` expands)."""
    return [{"role": m.role, "text": _block_text(m.content)} for m in result.messages]
