"""The interactive terminal client (prompt_toolkit): prompt, stream the turn, answer approvals inline.

Shift+Tab cycles the permission mode (default -> acceptEdits -> plan [-> bypassPermissions] -> default), as in
Claude Code. Everything goes through the HTTP API, so another client attached to the same session sees the same
events and may answer an approval first; this one then reports it as already decided.

No session exists until the first prompt: the REPL holds what it will be created with (`SessionSpec`), so opening
and closing `dexa chat`, or `/clear` followed by nothing, leaves no empty session behind. Slash commands are
dispatched by `slash` (dexa.cli.slash provides Claude Code's set); without one only /exit, /quit and /mode work
and any other `/name` is refused, never sent to the model.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from prompt_toolkit import PromptSession
from prompt_toolkit.formatted_text import HTML
from prompt_toolkit.input import Input
from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent
from prompt_toolkit.keys import Keys
from prompt_toolkit.output import Output
from rich.console import Console
from rich.markup import escape

from dexa.api.schemas.common import EventPublic
from dexa.core.errors import ConflictError, DexaError

from .api import DexaClient
from .render import EventRenderer, describe_call
from .spinner import TurnSpinner

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
# A lone Esc byte waits in the key parser for a possible escape sequence; after this long it is a key press.
ESC_FLUSH_S = 0.05
DRAIN_AFTER_ABORT_S = 10.0


def next_mode(current: str, *, bypass_allowed: bool) -> str:
    """Shift+Tab order; dontAsk is never in the cycle, so leaving it goes back to default."""
    order = ["default", "acceptEdits", "plan"] + (["bypassPermissions"] if bypass_allowed else [])
    return order[(order.index(current) + 1) % len(order)] if current in order else "default"


def parse_slash(text: str) -> tuple[str, str] | None:
    """(`name`, `args`) for `/name args`; None for prompts, including paths such as `/usr/bin/env is broken`."""
    from dexa.commands.expand import parse_slash as parse

    return parse(text)


@dataclass(slots=True, kw_only=True)
class SessionSpec:
    """What the REPL's next new session is created with (at its first prompt)."""

    cwd: str | None = None
    model: str | None = None
    permission_mode: str = "default"


class SlashHandler(Protocol):
    async def __call__(self, repl: ChatRepl, name: str, args: str) -> bool:
        """Run `/name args`; True when the REPL should exit."""
        ...


class ChatRepl:
    def __init__(
        self,
        client: DexaClient,
        session_id: str | None,
        *,
        console: Console | None = None,
        input: Input | None = None,
        output: Output | None = None,
        bypass_allowed: bool = False,
        spec: SessionSpec | None = None,
        slash: SlashHandler | None = None,
    ) -> None:
        self.client = client
        self.session_id = session_id
        self.spec = spec or SessionSpec()
        self.console = console or Console()
        self.renderer = EventRenderer(self.console, show_user=False)
        self.mode = self.spec.permission_mode
        self.cursor = 0
        self.bypass_allowed = bypass_allowed
        self.slash = slash
        self.spinner = TurnSpinner(self.console)
        self._mode_tasks: set[asyncio.Task[None]] = set()
        # What was typed while a turn ran: finished lines, then the line being typed (Claude Code queues them too).
        self._ahead: list[str] = [""]
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
        where = f"session <b>{self.session_id}</b>" if self.session_id else "<b>new session</b>"
        return HTML(f" {where} · mode <b>{self.mode}</b> (shift+tab to cycle) · /help · /exit")

    # ------------------------------------------------------------ the session

    async def ensure_session(self) -> str:
        """The current session, created now if this is the first prompt since start or /clear."""
        if self.session_id is None:
            created = await self.client.create_session(
                cwd=self.spec.cwd, model=self.spec.model, permission_mode=self.mode
            )
            self.session_id = created.id
            self.cursor = 0
        return self.session_id

    async def switch_to(self, session_id: str | None) -> None:
        """Continue another session (or none: a new one at the next prompt), skipping its history."""
        self.session_id = session_id
        self.cursor = 0
        if session_id is not None:
            await self.sync()

    async def cycle_mode(self) -> None:
        await self.set_mode(next_mode(self.mode, bypass_allowed=self.bypass_allowed))

    async def set_mode(self, wanted: str) -> None:
        if self.session_id is None:
            from dexa.api.schemas.common import MODES

            if wanted not in MODES:
                self.console.print(f"[red]unknown mode {escape(wanted)!r}: use one of {', '.join(MODES)}[/]")
                return
            self.mode = self.spec.permission_mode = wanted
        else:
            try:
                session = await self.client.set_mode(self.session_id, wanted)
            except DexaError as exc:
                self.console.print(f"[red]could not change mode: {escape(str(exc))}[/]")
                return
            self.mode = session.permission_mode
        if self.prompt.app.is_running:
            self.prompt.app.invalidate()

    async def sync(self) -> None:
        if self.session_id is None:
            return
        session = await self.client.get_session(self.session_id)
        self.mode = session.permission_mode
        self.cursor = max(self.cursor, session.last_seq)
        self.bypass_allowed = self.bypass_allowed or session.permission_mode == "bypassPermissions"

    # ------------------------------------------------------------ the loop

    async def run(self) -> int:
        await self.sync()
        where = self.session_id or "a new session"
        self.console.print(
            f"[dim]Dexa chat on {where} ({self.client.base_url}). /help lists the commands; Shift+Tab cycles the "
            "permission mode; Esc interrupts a turn; /exit quits.[/]"
        )
        while True:
            try:
                text = (await self.next_line()).strip()
            except (EOFError, KeyboardInterrupt):
                break
            if not text:
                continue
            parsed = parse_slash(text)
            if parsed is not None:
                try:
                    if await self.command(*parsed):
                        break
                except DexaError as exc:
                    self.console.print(f"[red]/{escape(parsed[0])}: {escape(str(exc))}[/]")
                continue
            try:
                await self.send(text)
            except DexaError as exc:  # the server went away or refused: say so and keep the REPL
                self.console.print(f"[red]error: {escape(str(exc))}[/]")
        await asyncio.gather(*self._mode_tasks, return_exceptions=True)
        return 0

    async def next_line(self) -> str:
        return await self.read_line(HTML("<b>›</b> "), echo="› ")

    async def read_line(self, question: Any, *, echo: str) -> str:
        """A line typed ahead while a turn ran (the answer may be typed before its question shows), else the
        prompt, pre-filled with a line begun meanwhile."""
        if len(self._ahead) > 1:
            line = self._ahead.pop(0)
            self.console.print(f"{escape(echo)}{escape(line)}")
            return line
        begun, self._ahead = self._ahead[0], [""]
        return await self.prompt.prompt_async(question, default=begun)

    async def command(self, name: str, args: str) -> bool:
        if self.slash is not None:
            return await self.slash(self, name, args)
        if name in ("exit", "quit"):
            return True
        if name == "mode":
            await self._mode_command(args)
            return False
        self.console.print(f"[red]Unknown command: /{escape(name)}[/] (this client knows /mode and /exit)")
        return False

    async def send(self, text: str) -> None:
        """Submit a prompt as the next turn (creating the session at the first one) and follow it."""
        await self.start_turn(lambda sid: self.client.send_message(sid, text))

    async def start_turn(self, submit: Callable[[str], Awaitable[Any]]) -> None:
        sid = await self.ensure_session()
        try:
            await submit(sid)
        except ConflictError as exc:
            self.console.print(f"[yellow]{escape(str(exc))}[/]")
            return
        await self.follow_turn()

    async def _mode_command(self, args: str) -> None:
        if not args.strip():
            self.console.print(f"mode: {self.mode}")
            return
        await self.set_mode(args.split()[0])

    # ------------------------------------------------------------ following a turn

    async def follow_turn(self) -> None:
        """Stream until the turn ends, with a spinner while it works; Esc or Ctrl-C interrupts the turn (the
        session stays usable)."""
        task = asyncio.create_task(self._stream_turn())
        loop = asyncio.get_running_loop()
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signal.SIGINT, task.cancel)
        self.spinner.begin()
        try:
            with self._interrupt_keys(task):
                await task
        except asyncio.CancelledError:
            if not task.cancelled():
                raise
            self.spinner.stop()
            await self._abort()
        finally:
            self.spinner.stop()
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.remove_signal_handler(signal.SIGINT)

    @contextlib.contextmanager
    def _interrupt_keys(self, task: asyncio.Task[None]) -> Any:
        """Esc (and Ctrl-C, which raw mode delivers as a key) cancels `task` while the turn runs. An approval
        prompt in between attaches its own reader; prompt_toolkit puts this one back when it returns."""
        inp = self.prompt.input
        loop = asyncio.get_running_loop()

        def keys(pressed: list[Any]) -> None:
            for k in pressed:
                if k.key in (Keys.Escape, Keys.ControlC):
                    if not task.done():
                        task.cancel()
                elif k.key == Keys.ControlM:
                    self._ahead.append("")
                elif k.key in (Keys.Backspace, Keys.ControlH):
                    self._ahead[-1] = self._ahead[-1][:-1]
                elif isinstance(k.key, str) and len(k.data) == 1 and k.data.isprintable():
                    self._ahead[-1] += k.data

        def ready() -> None:
            keys(inp.read_keys())
            loop.call_later(ESC_FLUSH_S, lambda: keys(inp.flush_keys()))

        try:
            raw, attached = inp.raw_mode(), inp.attach(ready)
        except (OSError, NotImplementedError):  # no terminal to read keys from: Ctrl-C (SIGINT) still works
            yield
            return
        with raw, attached:
            yield

    async def _abort(self) -> None:
        assert self.session_id is not None
        await self.client.abort(self.session_id)
        # Read up to the turn's end, so the next turn does not take this one's `turn.cancelled` for its own.
        with contextlib.suppress(TimeoutError, DexaError):
            async with asyncio.timeout(DRAIN_AFTER_ABORT_S):
                async for ev in self._events():
                    if ev.type in FINAL_EVENTS:
                        break
        self.console.print("[yellow]Interrupted: the turn stopped; the session is ready for your next prompt.[/]")

    async def _stream_turn(self) -> None:
        async for ev in self._events():
            if await self.handle(ev):
                return

    async def _events(self) -> AsyncIterator[EventPublic]:
        assert self.session_id is not None
        async for ev in self.client.events(self.session_id, after=self.cursor):
            self.cursor = ev.seq
            yield ev

    async def handle(self, ev: EventPublic) -> bool:
        """Render one event and act on it; True when the turn is over."""
        self.spinner.feed(ev)
        if ev.type == "message.delta":
            self.spinner.stop()  # the text streams where the spinner was
        self.renderer.render(ev)
        if ev.type == "permission.mode_changed":
            self.mode = str(ev.data.get("to", self.mode))
        elif ev.type == "permission.required":
            self.spinner.stop()
            await self.ask(ev.data)
        final = ev.type in FINAL_EVENTS
        if ev.type != "message.delta" and not final:
            self.spinner.start()
        return final

    async def ask(self, request: dict[str, Any]) -> None:
        call = describe_call(str(request.get("tool_name")), request.get("input") or {})
        while True:
            try:
                question = f"Allow {call}? [o]nce / [a]lways / [d]eny: "
                raw = await self.read_line(question, echo=question)
            except (EOFError, KeyboardInterrupt):
                raw = "d"
            decision = ANSWERS.get(raw.strip().lower())
            if decision is not None:
                break
        message = ""
        if decision == "deny":
            with contextlib.suppress(EOFError, KeyboardInterrupt):
                why = "Tell the agent why (optional): "
                message = (await self.read_line(why, echo=why)).strip()
        assert self.session_id is not None
        try:
            await self.client.approve(
                self.session_id,
                str(request.get("approval_id")),
                decision,  # type: ignore[arg-type]
                message=message,
            )
        except ConflictError:
            self.console.print("[dim]already decided by another client[/]")

    async def pick(self, question: str, choices: dict[str, str]) -> str | None:
        """Ask until one of `choices` (answer -> value) is typed; None on an empty answer, Esc-less EOF or ^C."""
        while True:
            try:
                raw = (await self.read_line(question, echo=question)).strip().lower()
            except (EOFError, KeyboardInterrupt):
                return None
            if not raw:
                return None
            if raw in choices:
                return choices[raw]
            self.console.print(f"[yellow]answer one of: {', '.join(choices)} (empty to cancel)[/]")
