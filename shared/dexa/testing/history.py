"""What a reactive scripted agent reads from a Messages-API request: the system prompt and every tool result so far.

A reactive agent (`Script.responder`) sees exactly what a real model would see in the request body, nothing more:
its earlier tool calls, and the results the runtime sent back for them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

Json = dict[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolCall:
    """One tool call the agent made, with the result it got back."""

    name: str
    input: Json
    result: str
    is_error: bool = False

    @property
    def data(self) -> Any:
        """The result parsed as JSON ({} when it is not JSON, e.g. an error or a staging notice)."""
        try:
            return json.loads(self.result)
        except ValueError:
            return {}

    @property
    def staged(self) -> bool:
        return self.result.startswith("Staged as out_")


def _blocks(content: Any) -> list[Json]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return [b for b in content or [] if isinstance(b, dict)]


def _text(content: Any) -> str:
    return "\n".join(str(b.get("text", "")) for b in _blocks(content) if b.get("type") == "text")


def tool_calls(body: Mapping[str, Any]) -> list[ToolCall]:
    """Every answered tool call in the request's history, oldest first."""
    uses: dict[str, Json] = {}
    out: list[ToolCall] = []
    for message in body.get("messages") or []:
        for block in _blocks(message.get("content")):
            if block.get("type") == "tool_use":
                uses[str(block.get("id"))] = block
            elif block.get("type") == "tool_result":
                use = uses.get(str(block.get("tool_use_id")))
                if use is not None:
                    out.append(
                        ToolCall(
                            name=str(use.get("name")),
                            input=dict(use.get("input") or {}),
                            result=_text(block.get("content")),
                            is_error=bool(block.get("is_error")),
                        )
                    )
    return out


def results(body: Mapping[str, Any], name: str) -> list[ToolCall]:
    """The answered calls of one tool (by its full name, e.g. `mcp__crm__search_contacts`)."""
    return [c for c in tool_calls(body) if c.name == name]


def system_text(body: Mapping[str, Any]) -> str:
    system = body.get("system")
    return system if isinstance(system, str) else _text(system)


def prompt_text(body: Mapping[str, Any]) -> str:
    """The user's task: the first user message's text."""
    for message in body.get("messages") or []:
        if message.get("role") == "user":
            return _text(message.get("content"))
    return ""


def today(body: Mapping[str, Any]) -> date:
    """The date the runtime tells the model in its system prompt ("Today's date: YYYY-MM-DD")."""
    found = re.search(r"Today's date: (\d{4}-\d{2}-\d{2})", system_text(body))
    if found is None:
        raise ValueError("the request's system prompt does not state today's date")
    return date.fromisoformat(found.group(1))


def declared_tools(body: Mapping[str, Any]) -> set[str]:
    return {str(t.get("name")) for t in body.get("tools") or [] if isinstance(t, dict)}
