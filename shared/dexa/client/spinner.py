"""The line under a running turn: a spinner, the elapsed time and the tokens used so far (Claude Code's
"✻ Working… (12s · ↓ 1.2k tokens · esc to interrupt)").

Output tokens come from each model call's `usage` event; while a reply streams, its text is counted at ~4
characters a token until the call's usage arrives. It draws only on a terminal, and never while text streams or
a prompt is open (the REPL stops it then), so the transcript holds no spinner frames.
"""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console, ConsoleOptions, RenderResult
from rich.live import Live
from rich.spinner import Spinner
from rich.text import Text

from dexa.api.schemas.common import EventPublic

CHARS_PER_TOKEN = 4


def compact_count(n: int) -> str:
    return f"{n / 1000:.1f}k" if n >= 1000 else str(n)


class TurnSpinner:
    def __init__(self, console: Console) -> None:
        self.console = console
        self.started = time.monotonic()
        self.input_tokens = 0
        self.output_tokens = 0
        self._streamed_chars = 0
        self._spinner = Spinner("dots", style="magenta")
        self._live: Live | None = None

    @property
    def tokens_out(self) -> int:
        return self.output_tokens + self._streamed_chars // CHARS_PER_TOKEN

    def line(self) -> str:
        elapsed = int(time.monotonic() - self.started)
        parts = [f"{elapsed}s"]
        if self.input_tokens:
            parts.append(f"↑ {compact_count(self.input_tokens)}")
        parts.append(f"↓ {compact_count(self.tokens_out)} tokens")
        return f"Working… ({' · '.join(parts)} · esc to interrupt)"

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        self._spinner.text = Text(self.line(), style="dim")
        yield self._spinner

    def feed(self, ev: EventPublic) -> None:
        data: dict[str, Any] = ev.data
        if ev.type == "message.delta":
            self._streamed_chars += len(str(data.get("text", "")))
        elif ev.type == "usage":
            usage = data.get("usage") or {}
            self.input_tokens += int(usage.get("input_tokens") or 0) + int(usage.get("cache_read_input_tokens") or 0)
            self.output_tokens += int(usage.get("output_tokens") or 0)
            self._streamed_chars = 0

    def begin(self) -> None:
        """A new turn: the clock and the counts start over."""
        self.started = time.monotonic()
        self.input_tokens = self.output_tokens = self._streamed_chars = 0
        self.start()

    def start(self) -> None:
        if self._live is not None or not self.console.is_terminal:
            return
        self._live = Live(self, console=self.console, transient=True, refresh_per_second=8)
        self._live.start()

    def stop(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None
