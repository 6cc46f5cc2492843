"""`DexaAgent`: the ACP agent side. An editor's requests become backend calls; the session's events become
`session/update` notifications; the engine's permission asks become `session/request_permission` requests.

Modes are the permission modes an editor user switches between (default, acceptEdits, plan). Extended thinking
is a session config option (ACP's `thought_level` category), since ACP has no dedicated thinking switch.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from acp import PROTOCOL_VERSION, RequestError, helpers
from acp.interfaces import Client
from acp.schema import (
    AgentCapabilities,
    AvailableCommand,
    AvailableCommandInput,
    Implementation,
    InitializeResponse,
    ListSessionsResponse,
    LoadSessionResponse,
    McpCapabilities,
    NewSessionResponse,
    PromptCapabilities,
    PromptResponse,
    SessionCapabilities,
    SessionConfigOptionSelect,
    SessionConfigSelectOption,
    SessionListCapabilities,
    SessionMode,
    SessionModeState,
    SetSessionConfigOptionResponse,
    SetSessionModeResponse,
    ToolCallUpdate,
    UnstructuredCommandInput,
)
from acp.schema import SessionInfo as AcpSessionInfo

from dexa import __version__
from dexa.commands.expand import parse_slash
from dexa.core.errors import DexaError, NotFoundError
from dexa.core.events import Event, EventType

from .backend import Backend, SessionInfo
from .mapping import EventMapper, PromptBlock, prompt_text, tool_content, tool_input_of, tool_kind, tool_title
from .mapping import mcp_servers as mcp_servers_of
from .permissions import Choice, choice_of, options_for

logger = logging.getLogger(__name__)

MODES = (
    SessionMode(id="default", name="Default", description="Ask before edits and commands"),
    SessionMode(id="acceptEdits", name="Accept Edits", description="Edit files without asking; ask for the rest"),
    SessionMode(id="plan", name="Plan", description="Read-only: explore and present a plan for review"),
)
MODE_IDS = tuple(m.id for m in MODES)
THINKING = "thinking"
# Built-in slash commands an editor can use through ACP (the rest belong to the interactive CLI).
EDITOR_BUILTINS = {
    "help": "Show available commands",
    "compact": "Summarize the conversation to free context",
    "cost": "Show the session's cost and turns",
    "status": "Show the session's model, mode and working directory",
    "plan": "Enter plan mode (optionally with what to plan)",
}
STOP_REASONS = {"error_max_turns": "max_turn_requests"}


@dataclass(slots=True)
class _Live:
    info: SessionInfo
    thinking: bool = False
    mapper: EventMapper = field(default_factory=EventMapper)
    asks: set[asyncio.Task[None]] = field(default_factory=set[asyncio.Task[None]])
    turn: asyncio.Task[Any] | None = None
    cancelled: bool = False


def _rpc_error(exc: DexaError) -> RequestError:
    """A Dexa error as a JSON-RPC error whose message names the cause."""
    if isinstance(exc, NotFoundError):
        return RequestError(-32002, str(exc), {"code": exc.code})
    return RequestError(-32602, str(exc), {"code": exc.code})


class DexaAgent:
    def __init__(self, backend: Backend, *, thinking: bool = False) -> None:
        self.backend = backend
        self.thinking_default = thinking
        self.conn: Client | None = None
        self.sessions: dict[str, _Live] = {}

    def on_connect(self, conn: Client) -> None:
        self.conn = conn

    # ------------------------------------------------------------ lifecycle

    async def initialize(self, protocol_version: int, **_: Any) -> InitializeResponse:
        return InitializeResponse(
            protocol_version=min(protocol_version, PROTOCOL_VERSION),
            agent_capabilities=AgentCapabilities(
                load_session=True,
                session_capabilities=SessionCapabilities(list=SessionListCapabilities()),
                mcp_capabilities=McpCapabilities(http=True, sse=True),
                prompt_capabilities=PromptCapabilities(image=False, audio=False, embedded_context=True),
            ),
            agent_info=Implementation(name="dexa", title="Dexa", version=__version__),
        )

    async def authenticate(self, method_id: str, **_: Any) -> None:
        return None

    async def new_session(
        self,
        cwd: str,
        additional_directories: list[str] | None = None,
        mcp_servers: list[Any] | None = None,
        **_: Any,
    ) -> Any:
        try:
            mcp = mcp_servers_of(list(mcp_servers or []))
            info = await self.backend.new_session(cwd, list(additional_directories or []), mcp)
        except DexaError as exc:
            raise _rpc_error(exc) from None
        live = self._open(info)
        await self._announce(live)
        return NewSessionResponse(session_id=info.id, modes=self._modes(info), config_options=self._options(live))

    async def load_session(self, cwd: str, session_id: str, **_: Any) -> LoadSessionResponse:
        try:
            info = await self.backend.get_session(session_id)
            events = await self.backend.history(session_id)
        except DexaError as exc:
            raise _rpc_error(exc) from None
        live = self._open(info)
        for ev in events:  # the conversation so far, as the editor would have seen it live
            for update in live.mapper.updates(ev, replay=True):
                await self._send(info.id, update)
        await self._announce(live)
        return LoadSessionResponse(modes=self._modes(info), config_options=self._options(live))

    async def list_sessions(self, cwd: str | None = None, cursor: str | None = None, **_: Any) -> ListSessionsResponse:
        try:
            rows = await self.backend.list_sessions(cwd)
        except DexaError as exc:
            raise _rpc_error(exc) from None
        return ListSessionsResponse(
            sessions=[
                AcpSessionInfo(
                    session_id=r.id,
                    cwd=r.cwd,
                    title=r.title or None,
                    updated_at=datetime.fromtimestamp(r.updated_at, UTC).isoformat() if r.updated_at else None,
                )
                for r in rows
            ]
        )

    def _open(self, info: SessionInfo) -> _Live:
        live = self.sessions.get(info.id)
        if live is None:
            live = self.sessions[info.id] = _Live(info, thinking=self.thinking_default)
        live.info = info
        return live

    def _live(self, session_id: str) -> _Live:
        live = self.sessions.get(session_id)
        if live is None:
            raise RequestError(
                -32002, f"Unknown session {session_id!r}: create it with session/new or open it with session/load"
            )
        return live

    def _modes(self, info: SessionInfo) -> SessionModeState:
        current = info.mode if info.mode in MODE_IDS else "default"
        return SessionModeState(current_mode_id=current, available_modes=list(MODES))

    def _options(self, live: _Live) -> list[Any]:
        if not self.backend.can_think:
            return []
        return [
            SessionConfigOptionSelect(
                type="select",
                id=THINKING,
                name="Extended thinking",
                description="Let the model think before it answers (costs more tokens)",
                category="thought_level",
                current_value="on" if live.thinking else "off",
                options=[
                    SessionConfigSelectOption(value="off", name="Off"),
                    SessionConfigSelectOption(value="on", name="On"),
                ],
            )
        ]

    async def _announce(self, live: _Live) -> None:
        """The slash commands this session offers: the project's and the user's own, then the built-ins."""
        try:
            custom = await self.backend.commands(live.info.id)
        except DexaError as exc:
            logger.warning("commands of %s: %s", live.info.id, exc)
            custom = []
        commands = [
            AvailableCommand(
                name=c.name,
                description=c.description,
                input=AvailableCommandInput(root=UnstructuredCommandInput(hint=c.hint)) if c.hint else None,
            )
            for c in custom
        ]
        commands += [AvailableCommand(name=n, description=d) for n, d in EDITOR_BUILTINS.items()]
        await self._send(live.info.id, helpers.update_available_commands(commands))

    async def _send(self, session_id: str, update: Any) -> None:
        if self.conn is not None:
            await self.conn.session_update(session_id=session_id, update=update)

    # ------------------------------------------------------------ modes and options

    async def set_session_mode(self, mode_id: str, session_id: str, **_: Any) -> SetSessionModeResponse:
        live = self._live(session_id)
        if mode_id not in MODE_IDS:
            raise RequestError(-32602, f"Unknown mode {mode_id!r}: use one of {', '.join(MODE_IDS)}")
        try:
            await self.backend.set_mode(session_id, mode_id)
        except DexaError as exc:
            raise _rpc_error(exc) from None
        live.info = replace(live.info, mode=mode_id)
        return SetSessionModeResponse()

    async def set_config_option(
        self, config_id: str, session_id: str, value: str | bool, **_: Any
    ) -> SetSessionConfigOptionResponse:
        live = self._live(session_id)
        if config_id != THINKING or not self.backend.can_think:
            offered = [o.id for o in self._options(live)]
            raise RequestError(-32602, f"Unknown config option {config_id!r}: this session offers {offered}")
        if value not in ("on", "off", True, False):
            raise RequestError(-32602, f"{THINKING}: value must be 'on' or 'off', not {value!r}")
        live.thinking = value in ("on", True)
        return SetSessionConfigOptionResponse(config_options=self._options(live))

    # ------------------------------------------------------------ prompts

    async def prompt(self, prompt: list[PromptBlock], session_id: str, **_: Any) -> PromptResponse:
        live = self._live(session_id)
        if live.turn is not None and not live.turn.done():
            raise RequestError(-32602, f"Session {session_id} is already running a prompt; cancel it first")
        try:
            text = prompt_text(prompt, roots=[live.info.cwd])
        except DexaError as exc:
            raise _rpc_error(exc) from None
        live.cancelled = False
        live.turn = asyncio.current_task()
        try:
            reason = await self._run(live, text)
        except DexaError as exc:
            raise _rpc_error(exc) from None
        finally:
            live.turn = None
            for task in list(live.asks):
                task.cancel()
        return PromptResponse(stop_reason="cancelled" if live.cancelled else reason)  # pyright: ignore[reportArgumentType]

    async def _run(self, live: _Live, text: str) -> str:
        sid = live.info.id
        parsed = parse_slash(text)
        if parsed is not None and parsed[0] in EDITOR_BUILTINS:
            name, args = parsed
            if name != "plan" or not args:
                await self._builtin(live, name)
                return "end_turn"
            await self.backend.set_mode(sid, "plan")
            await self._send(sid, helpers.update_current_mode("plan"))
            text = args
        elif parsed is not None and parsed[0] not in [c.name for c in await self.backend.commands(sid)]:
            await self._say(sid, f"/{parsed[0]} is not available in editors: use `dexa chat` for it.")
            return "end_turn"

        async def on_event(ev: Event) -> None:
            for update in live.mapper.updates(ev):
                await self._send(sid, update)
            if ev.type == EventType.PERMISSION_REQUIRED:
                task = asyncio.create_task(self._ask(live, dict(ev.data)))
                live.asks.add(task)
                task.add_done_callback(live.asks.discard)

        outcome = await self.backend.run_turn(sid, text, on_event, thinking=live.thinking)
        subtype = str(outcome.get("subtype") or "success")
        if subtype == "success" or live.cancelled:
            return "end_turn"
        if subtype in STOP_REASONS:
            return STOP_REASONS[subtype]
        raise RequestError(-32603, f"The turn failed: {outcome.get('error') or subtype}", {"subtype": subtype})

    async def _builtin(self, live: _Live, name: str) -> None:
        sid = live.info.id
        if name == "help":
            await self._say(
                sid, await self.backend.help(sid) or "\n".join(f"/{n}  {d}" for n, d in EDITOR_BUILTINS.items())
            )
        elif name == "compact":
            await self.backend.compact(sid)
            await self._say(sid, "Compacted the conversation.")
        elif name == "plan":
            await self.backend.set_mode(sid, "plan")
            await self._send(sid, helpers.update_current_mode("plan"))
            await self._say(sid, "Plan mode: I will explore and present a plan before changing anything.")
        else:
            info = await self.backend.get_session(sid)
            live.info = info
            if name == "cost":
                await self._say(sid, f"Total cost: ${info.cost_usd:.4f} over {info.turns} turns.")
            else:
                await self._say(
                    sid,
                    f"Session {info.id}\nModel: {info.model}\nMode: {info.mode}\nWorking directory: {info.cwd}\n"
                    f"Extended thinking: {'on' if live.thinking else 'off'}",
                )

    async def _say(self, session_id: str, text: str) -> None:
        await self._send(session_id, helpers.update_agent_message_text(text))

    async def _ask(self, live: _Live, ask: dict[str, Any]) -> None:
        """One engine ask as a permission request to the editor; its answer resolves the approval."""
        if self.conn is None:
            return
        name = str(ask.get("tool_name") or "")
        tool_input = tool_input_of(ask)
        call = ToolCallUpdate(
            tool_call_id=str(ask.get("tool_use_id")),
            title=tool_title(name, tool_input),
            kind=tool_kind(name),
            status="pending",
            content=tool_content(name, tool_input) or None,
            raw_input=tool_input,
        )
        try:
            response = await self.conn.request_permission(
                session_id=live.info.id, tool_call=call, options=options_for(ask)
            )
            choice = choice_of(response)
        except (RequestError, ConnectionError) as exc:
            logger.warning("permission request for %s failed: %s", name, exc)
            choice = Choice("deny", cancelled=True)
        if choice.cancelled and live.cancelled:
            return  # the turn is being cancelled: its asks end with it
        with contextlib.suppress(DexaError):
            await self.backend.answer(
                live.info.id, str(ask["approval_id"]), choice.decision, mode_after=choice.mode_after
            )

    async def cancel(self, session_id: str, **_: Any) -> None:
        live = self.sessions.get(session_id)
        if live is None or live.turn is None:
            return
        live.cancelled = True
        await self.backend.cancel(session_id)
