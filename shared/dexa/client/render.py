"""Terminal rendering of session events (rich): streamed text, tool calls, diffs, approvals, turn outcomes."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.syntax import Syntax

from dexa.api.schemas.common import EventPublic

MAX_TOOL_LINES = 8


def describe_call(name: str, tool_input: dict[str, Any]) -> str:
    """`Bash(ls -la)`-style one-liner for a tool call."""
    for key in ("command", "file_path", "path", "pattern", "url", "query", "notebook_path", "description"):
        value = tool_input.get(key)
        if isinstance(value, str) and value:
            short = value if len(value) <= 100 else value[:97] + "..."
            return f"{name}({short})"
    raw = json.dumps(tool_input, ensure_ascii=False)
    return f"{name}({raw if len(raw) <= 100 else raw[:97] + '...'})"


class EventRenderer:
    def __init__(self, console: Console, *, show_user: bool = True) -> None:
        self.console = console
        self.show_user = show_user
        self._streaming = False

    def _end_stream(self) -> None:
        if self._streaming:
            self.console.print()
            self._streaming = False

    def render(self, ev: EventPublic) -> None:
        d = ev.data
        t = ev.type
        if t == "message.delta":
            self.console.print(escape(str(d.get("text", ""))), end="", highlight=False, soft_wrap=True)
            self._streaming = True
            return
        self._end_stream()
        if t == "message.user" and self.show_user and not d.get("tool_results"):
            text = "".join(b.get("text", "") for b in d.get("message", {}).get("content", []) if isinstance(b, dict))
            self.console.print(f"[bold cyan]›[/] {escape(text)}")
        elif t == "tool.requested":
            self.console.print(f"[bold]⏺ {escape(describe_call(str(d.get('name')), d.get('input') or {}))}[/]")
        elif t == "tool.completed":
            self._tool_completed(d)
        elif t == "permission.required":
            call = describe_call(str(d.get("tool_name")), d.get("input") or {})
            reason = f" — {d['reason']}" if d.get("reason") else ""
            self.console.print(f"[bold yellow]? Permission needed:[/] {escape(call)}{escape(reason)}")
        elif t == "permission.resolved":
            ok = d.get("decision") == "allowed"
            mark = "[green]✓ allowed[/]" if ok else "[red]✗ denied[/]"
            scope = " (always, this session)" if d.get("scope") == "always" else ""
            self.console.print(f"  {mark}{scope} by {escape(str(d.get('by') or '?'))}")
        elif t == "permission.mode_changed":
            self.console.print(f"[magenta]mode: {d.get('from')} → {d.get('to')}[/]")
        elif t == "turn.completed":
            cost = d.get("total_cost_usd")
            self.console.print(f"[dim]turn {d.get('turn')} done · ${cost if cost is not None else 0:.4f}[/]")
        elif t in ("turn.failed", "error"):
            self.console.print(f"[bold red]error:[/] {escape(str(d.get('error') or d.get('message') or d))}")
        elif t == "turn.cancelled":
            self.console.print("[yellow]turn cancelled[/]")
        elif t in ("warning", "config.error"):
            self.console.print(f"[yellow]warning:[/] {escape(str(d.get('message') or d))}")
        elif t == "output.staged":
            self.console.print(
                f"[cyan]✉ staged {escape(str(d.get('kind')))} {escape(str(d.get('output_id')))}: "
                f"{escape(str(d.get('summary') or d.get('tool')))}[/]"
            )
        elif t in ("output.approved", "output.rejected", "output.executed"):
            self.console.print(f"[cyan]✉ {t.split('.')[1]} {escape(str(d.get('output_id')))}[/]")
        elif t == "todo.updated":
            for item in d.get("todos") or []:
                box = "☑" if item.get("status") == "completed" else "☐"
                self.console.print(f"  {box} {escape(str(item.get('content', '')))}")

    def _tool_completed(self, d: dict[str, Any]) -> None:
        content = str(d.get("content", ""))
        lines = content.splitlines() or [""]
        color = "red" if d.get("is_error") else "dim"
        shown = lines[:MAX_TOOL_LINES]
        for i, line in enumerate(shown):
            prefix = "  ⎿ " if i == 0 else "    "
            self.console.print(f"[{color}]{prefix}{escape(line)}[/]", highlight=False)
        if len(lines) > MAX_TOOL_LINES:
            self.console.print(f"[dim]    … {len(lines) - MAX_TOOL_LINES} more lines[/]")
        data = d.get("data")
        if isinstance(data, dict) and data.get("diff"):
            self.console.print(Syntax(str(data["diff"]), "diff", theme="ansi_dark", word_wrap=True))
