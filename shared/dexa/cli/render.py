"""Human-readable rendering of session events for the terminal (demo, attach, REPL)."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.syntax import Syntax

from dexa.core.events import Event, EventType


def _summary(name: str, data: dict[str, Any]) -> str:
    tool_input = data.get("input") or {}
    for key in ("command", "file_path", "pattern", "url", "query", "description", "notebook_path"):
        if key in tool_input:
            value = str(tool_input[key]).replace("\n", " ")
            return f"{name}({value[:90]})"
    return f"{name}({json.dumps(tool_input)[:90]})"


class EventRenderer:
    def __init__(self, console: Console | None = None, *, show_output_lines: int = 6) -> None:
        self.console = console or Console(highlight=False)
        self.lines = show_output_lines
        self._streaming = False

    def _end_stream(self) -> None:
        if self._streaming:
            self.console.print()
            self._streaming = False

    def render(self, event: Event) -> None:
        data, t = event.data, event.type
        if t == EventType.TEXT_DELTA:
            self.console.print(data.get("text", ""), end="", style="white", markup=False)
            self._streaming = True
            return
        self._end_stream()
        if t == EventType.TOOL_STARTED:
            self.console.print(f"[bold cyan]●[/] {_summary(str(data.get('name')), data)}", markup=True)
        elif t == EventType.TOOL_COMPLETED:
            self._tool_done(data)
        elif t == EventType.PERMISSION_REQUIRED:
            self.console.print(
                f"[bold yellow]? permission[/] {data.get('tool_name') or data.get('kind')}: {data.get('reason', '')}"
            )
        elif t == EventType.PERMISSION_RESOLVED:
            self.console.print(f"[yellow]  → {data.get('decision')} ({data.get('scope')}) by {data.get('by')}[/]")
        elif t in (EventType.ERROR, EventType.CONFIG_ERROR, EventType.WARNING):
            self.console.print(f"[bold red]{t}[/] {data.get('message') or data}")
        elif t == EventType.MODEL_RETRY:
            self.console.print(f"[dim]model busy (status {data.get('error_status')}), retry {data.get('attempt')}…[/]")
        elif t == EventType.CHECKPOINT_CREATED:
            self.console.print(f"[dim]checkpoint {data.get('id', '')}[/]")
        elif t == EventType.TURN_FAILED:
            self.console.print(f"[bold red]turn failed:[/] {data.get('error') or data.get('subtype')}")

    def _tool_done(self, data: dict[str, Any]) -> None:
        status = data.get("status")
        style = "red" if data.get("is_error") else "green"
        content = str(data.get("content", ""))
        diff = (data.get("data") or {}).get("diff")
        if diff:
            self.console.print(Syntax(str(diff), "diff", theme="ansi_dark", background_color="default"))
            return
        lines = content.splitlines()
        shown = lines[: self.lines]
        for line in shown:
            self.console.print(f"  [{style}]⎿[/] {line[:160]}", markup=True, highlight=False)
        if len(lines) > len(shown):
            self.console.print(f"  [dim]… {len(lines) - len(shown)} more lines[/]")
        if status == "denied":
            self.console.print("  [red]denied[/]")
