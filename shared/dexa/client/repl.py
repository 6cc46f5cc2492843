"""The interactive terminal client (prompt_toolkit): prompt, stream the turn, answer approvals inline.

Shift+Tab cycles the permission mode (default -> acceptEdits -> plan [-> bypassPermissions] -> default), as in
Claude Code. Everything goes through the HTTP API, so another client attached to the same session sees the same
events and may answer an approval first; this one then reports it as already decided.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator
from typing import Any

from prompt_toolkit import PromptSession
from prompt_toolkit.formatted_text import HTML
from prompt_toolkit.input import Input
from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent
from prompt_toolkit.output import Output
from rich.console import Console
from rich.markup import escape

from dexa.api.schemas.common import EventPublic
from dexa.core.errors import ConflictError, DexaError

from .api import DexaClient
from .render import EventRenderer, describe_call

FINAL_EVENTS = frozenset({"turn.completed", "turn.failed", "turn.cancelled"})
ANSWERS = {
    "o": "once",
    "y": "once",
    "once": "once",
    "a": "always",
    "always": "always",
    "d": "deny",
    "n": "deny",
    "deny": "deny",
    "": "once",
}


def next_mode(current: str, *, bypass_allowed: bool) -> str:
    """Shift+Tab order; dontAsk is never in the cycle, so leaving it goes back to default."""
    order = ["default", "acceptEdits", "plan"] + (["bypassPermissions"] if bypass_allowed else [])
    return order[(order.index(current) + 1) % len(order)] if current in order else "default"


class ChatRepl:
    def __init__(
        self,
        client: DexaClient,
        session_id: str,
        *,
        console: Console | None = None,
        input: Input | None = None,
        output: Output | None = None,
        bypass_allowed: bool = False,
    ) -> None:
        self.client = client
        self.session_id = session_id
        self.console = console or Console()
        self.renderer = EventRenderer(self.console, show_user=False)
        self.mode = "default"
        self.cursor = 0
        self.bypass_allowed = bypass_allowed
        self._mode_tasks: set[asyncio.Task[None]] = set()
        bindings = KeyBindings()

        @bindings.add("s-tab")
        def _cycle(event: KeyPressEvent) -> None:
            task = event.app.create_background_task(self.cycle_mode())
            self._mode_tasks.add(task)
            task.add_done_callback(self._mode_tasks.discard)

        self.prompt: PromptSession[str] = PromptSession(
            key_bindings=bindings, bottom_toolbar=self._toolbar, input=input, output=output
        )

    def _toolbar(self) -> HTML:
        return HTML(f" session <b>{self.session_id}</b> · mode <b>{self.mode}</b> (shift+tab to cycle) · /exit")

    async def cycle_mode(self) -> None:
        wanted = next_mode(self.mode, bypass_allowed=self.bypass_allowed)
        try:
            session = await self.client.set_mode(self.session_id, wanted)
        except DexaError as exc:
            self.console.print(f"[red]could not change mode: {escape(str(exc))}[/]")
            return
        self.mode = session.permission_mode
        if self.prompt.app.is_running:
            self.prompt.app.invalidate()

    async def sync(self) -> None:
        session = await self.client.get_session(self.session_id)
        self.mode = session.permission_mode
        self.cursor = max(self.cursor, session.last_seq)
        self.bypass_allowed = self.bypass_allowed or session.permission_mode == "bypassPermissions"

    async def run(self) -> int:
        await self.sync()
        self.console.print(
            f"[dim]Dexa chat on {self.session_id} ({self.client.base_url}). Shift+Tab cycles the "
            "permission mode; /exit quits.[/]"
        )
        while True:
            try:
                text = (await self.prompt.prompt_async(HTML("<b>›</b> "))).strip()
            except (EOFError, KeyboardInterrupt):
                break
            if not text:
                continue
            if text in ("/exit", "/quit"):
                break
            if text.startswith("/mode"):
                await self._mode_command(text)
                continue
            try:
                await self.client.send_message(self.session_id, text)
            except ConflictError as exc:
                self.console.print(f"[yellow]{escape(str(exc))}[/]")
                continue
            await self.follow_turn()
        await asyncio.gather(*self._mode_tasks, return_exceptions=True)
        return 0

    async def _mode_command(self, text: str) -> None:
        parts = text.split()
        if len(parts) == 1:
            self.console.print(f"mode: {self.mode}")
            return
        try:
            self.mode = (await self.client.set_mode(self.session_id, parts[1])).permission_mode
        except DexaError as exc:
            self.console.print(f"[red]{escape(str(exc))}[/]")

    async def follow_turn(self) -> None:
        """Stream until the turn ends; Ctrl-C aborts the turn (the session stays usable)."""
        task = asyncio.create_task(self._stream_turn())
        loop = asyncio.get_running_loop()
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signal.SIGINT, task.cancel)
        try:
            await task
        except asyncio.CancelledError:
            if not task.cancelled():
                raise
            await self.client.abort(self.session_id)
            self.console.print("[yellow]turn aborted[/]")
        finally:
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.remove_signal_handler(signal.SIGINT)

    async def _stream_turn(self) -> None:
        async for ev in self._events():
            if await self.handle(ev):
                return

    async def _events(self) -> AsyncIterator[EventPublic]:
        async for ev in self.client.events(self.session_id, after=self.cursor):
            self.cursor = ev.seq
            yield ev

    async def handle(self, ev: EventPublic) -> bool:
        """Render one event and act on it; True when the turn is over."""
        self.renderer.render(ev)
        if ev.type == "permission.mode_changed":
            self.mode = str(ev.data.get("to", self.mode))
        elif ev.type == "permission.required":
            await self.ask(ev.data)
        return ev.type in FINAL_EVENTS

    async def ask(self, request: dict[str, Any]) -> None:
        call = describe_call(str(request.get("tool_name")), request.get("input") or {})
        while True:
            try:
                raw = await self.prompt.prompt_async(f"Allow {call}? [o]nce / [a]lways / [d]eny: ")
            except (EOFError, KeyboardInterrupt):
                raw = "d"
            decision = ANSWERS.get(raw.strip().lower())
            if decision is not None:
                break
        message = ""
        if decision == "deny":
            with contextlib.suppress(EOFError, KeyboardInterrupt):
                message = (await self.prompt.prompt_async("Tell the agent why (optional): ")).strip()
        try:
            await self.client.approve(
                self.session_id,
                str(request.get("approval_id")),
                decision,  # type: ignore[arg-type]
                message=message,
            )
        except ConflictError:
            self.console.print("[dim]already decided by another client[/]")
