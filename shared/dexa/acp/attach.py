"""`dexa acp --server URL`: the editor drives sessions that live in a Dexa server, through its HTTP API and SSE.

A session started on the web (or by `dexa chat`) opens in the editor with session/load and its id: the history is
replayed from the server's event log, later prompts run on the server, and approvals go back through the API,
so every other client attached to the session sees the same turn.
"""

from __future__ import annotations

from typing import Any

from dexa.client.api import DexaClient
from dexa.commands.builtins import BUILTIN_COMMANDS
from dexa.commands.expand import parse_slash
from dexa.core.events import Event, EventType

from .backend import LIST_LIMIT, Command, OnEvent, SessionInfo, info_of

FINAL = (EventType.TURN_COMPLETED, EventType.TURN_FAILED, EventType.TURN_CANCELLED)


def _event(e: Any) -> Event:
    return Event(session_id=e.session_id, seq=e.seq, type=e.type, data=dict(e.data), ts=e.ts)


class RemoteBackend:
    # The server builds the model from its own settings: a per-prompt thinking budget has no API to travel by.
    can_think = False

    def __init__(self, server: str, token: str | None, *, client: DexaClient | None = None) -> None:
        self.client = client or DexaClient(server, token)
        self._mode_after: dict[str, str] = {}  # tool_use_id of an approved ExitPlanMode -> the mode chosen

    async def aclose(self) -> None:
        await self.client.aclose()

    async def new_session(self, cwd: str, add_dirs: list[str], mcp: dict[str, Any] | None) -> SessionInfo:
        # The server's own workspace roots decide where a session may work; extra directories stay local. The
        # editor's MCP servers run on the editor's machine, out of the server's reach: they are not passed on.
        return info_of(await self.client.create_session(cwd=cwd))

    async def get_session(self, session_id: str) -> SessionInfo:
        return info_of(await self.client.get_session(session_id))

    async def list_sessions(self, cwd: str | None) -> list[SessionInfo]:
        page = await self.client.list_sessions(limit=LIST_LIMIT, cwd=cwd)
        return [info_of(s) for s in page.data if not s.parent_id]

    async def history(self, session_id: str) -> list[Event]:
        return [_event(e) async for e in self.client.events(session_id, follow=False)]

    async def commands(self, session_id: str) -> list[Command]:
        # The built-ins listed are the CLI's: the ACP server announces the ones an editor runs (EDITOR_BUILTINS).
        listed = await self.client.session_commands(session_id)
        return [
            Command(c.name, c.description or f"/{c.name}", c.argument_hint)
            for c in listed.data
            if c.kind != "builtin" and c.name not in BUILTIN_COMMANDS
        ]

    async def help(self, session_id: str) -> str:
        lines = ["Built-in commands in editors: /help /compact /cost /status /plan"]
        lines.append("The project's custom commands run on the server as `/name args`.")
        return "\n".join(lines)

    async def run_turn(self, session_id: str, text: str, on_event: OnEvent, *, thinking: bool) -> dict[str, Any]:
        session = await self.client.get_session(session_id)
        cursor = session.last_seq
        parsed = parse_slash(text)
        if parsed is not None and parsed[0] not in BUILTIN_COMMANDS:
            await self.client.run_command(session_id, text)
        else:
            await self.client.send_message(session_id, text)
        async for public in self.client.events(session_id, after=cursor):
            ev = _event(public)
            if ev.type == EventType.TOOL_COMPLETED:
                after = self._mode_after.pop(str(ev.data.get("tool_use_id")), None)
                if after is not None and ev.data.get("status") == "done":
                    await self.client.set_mode(session_id, after)
            await on_event(ev)
            if ev.type in FINAL:
                if ev.type == EventType.TURN_CANCELLED:
                    return {"subtype": "error_during_execution", "error": "cancelled"}
                return {
                    **ev.data,
                    "subtype": ev.data.get("subtype")
                    or ("success" if ev.type == EventType.TURN_COMPLETED else "error_during_execution"),
                }
        return {}

    async def compact(self, session_id: str) -> None:
        await self.client.compact(session_id)

    async def answer(self, session_id: str, approval_id: str, decision: str, *, mode_after: str | None) -> None:
        if mode_after is not None:
            # The server's ExitPlanMode returns to the mode planning began in: the chosen one is set once it has.
            self._mode_after[approval_id.removeprefix("ap_")] = mode_after
        await self.client.approve(session_id, approval_id, decision)  # pyright: ignore[reportArgumentType]

    async def set_mode(self, session_id: str, mode: str) -> None:
        await self.client.set_mode(session_id, mode)

    async def cancel(self, session_id: str) -> None:
        await self.client.abort(session_id)
