"""Where an ACP session's turns run: this process (`LocalBackend`, the runtime `dexa run` builds) or a Dexa server
(`attach.RemoteBackend`). Both hand the ACP server the same thing: the session's event log, in order.

The local backend drives turns with the headless CLI's TurnRunner (the same engine, steps and event stream),
waiting on approvals instead of denying them: the editor is the approver.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any, Protocol

from dexa.agents.plan_mode import KV_NAMESPACE as PLAN_KV
from dexa.agents.plan_mode import enter_plan_mode
from dexa.commands.builtins import BUILTIN_COMMANDS
from dexa.commands.expand import help_text
from dexa.core.errors import ConfigError
from dexa.core.events import Event
from dexa.core.session import SessionConfig
from dexa.headless.json_flags import inline_json_files
from dexa.headless.turns import TurnRunner
from dexa.runtime.prompts import prepare_prompt
from dexa.wiring import LOCAL_ORG, Runtime, check_model_credentials

OnEvent = Callable[[Event], Awaitable[None]]
# Extended thinking when the editor turns it on and MAX_THINKING_TOKENS names no budget.
DEFAULT_THINKING_BUDGET = 10_000
LIST_LIMIT = 50  # session/list: the most recent conversations, as `dexa sessions` shows


@dataclass(frozen=True, slots=True)
class SessionInfo:
    id: str
    cwd: str
    mode: str
    model: str
    cost_usd: float = 0.0
    turns: int = 0
    title: str = ""
    updated_at: float = 0.0


@dataclass(frozen=True, slots=True)
class Command:
    name: str
    description: str
    hint: str = ""


class Backend(Protocol):
    can_think: bool  # whether the extended-thinking toggle reaches the model

    async def aclose(self) -> None: ...
    async def new_session(self, cwd: str, add_dirs: list[str], mcp: dict[str, Any] | None) -> SessionInfo: ...
    async def get_session(self, session_id: str) -> SessionInfo: ...
    async def list_sessions(self, cwd: str | None) -> list[SessionInfo]: ...
    async def history(self, session_id: str) -> list[Event]: ...
    async def commands(self, session_id: str) -> list[Command]: ...
    async def help(self, session_id: str) -> str: ...
    async def run_turn(self, session_id: str, text: str, on_event: OnEvent, *, thinking: bool) -> dict[str, Any]: ...
    async def compact(self, session_id: str) -> None: ...
    async def answer(self, session_id: str, approval_id: str, decision: str, *, mode_after: str | None) -> None: ...
    async def set_mode(self, session_id: str, mode: str) -> None: ...
    async def cancel(self, session_id: str) -> None: ...


def info_of(s: Any) -> SessionInfo:
    """A core Session or the API's SessionPublic: the fields an editor shows."""
    return SessionInfo(
        id=s.id,
        cwd=s.cwd,
        mode=s.permission_mode,
        model=s.model,
        cost_usd=s.cost_usd,
        turns=s.turns_completed,
        title=s.title,
        updated_at=s.updated_at,
    )


def thinking_budget(env: dict[str, str]) -> int:
    raw = env.get("MAX_THINKING_TOKENS", "")
    return int(raw) if raw.isdigit() and int(raw) > 0 else DEFAULT_THINKING_BUDGET


def _norm(path: str) -> str:
    return os.path.normpath(path)


async def forward(queue: asyncio.Queue[Event | None], on_event: OnEvent) -> None:
    while (ev := await queue.get()) is not None:
        await on_event(ev)


class LocalBackend:
    can_think = True

    def __init__(self, rt: Runtime, *, model: str | None, env: dict[str, str]) -> None:
        self.rt = rt
        self.model = model or rt.settings.default_model
        self.env = env
        self._runners: dict[str, TurnRunner] = {}

    async def aclose(self) -> None:
        await self.rt.aclose()

    def _info(self, s: Any) -> SessionInfo:
        return info_of(s)

    async def new_session(self, cwd: str, add_dirs: list[str], mcp: dict[str, Any] | None) -> SessionInfo:
        check_model_credentials(self.model, self.env)
        # The editor's servers join the session like `--mcp-config` JSON (checked, then kept as a file).
        mcp_files = inline_json_files([json.dumps(mcp)], kind="mcp") if mcp else ()
        # ACP sends absolute paths; the runtime checks them against the workspace roots.
        config = SessionConfig(add_dirs=tuple(map(_norm, add_dirs)), mcp_config=mcp_files)
        return self._info(await self.rt.create_session(cwd=_norm(cwd), model=self.model, config=config))

    async def get_session(self, session_id: str) -> SessionInfo:
        session = await self.rt.store.get_session(session_id)
        if session.config.headless:  # a `dexa run -p` session: from now on an editor answers its asks
            session = await self.rt.store.update_session(
                replace(session, config=replace(session.config, headless=False))
            )
        return self._info(session)

    async def list_sessions(self, cwd: str | None) -> list[SessionInfo]:
        rows = await self.rt.store.list_sessions(org_id=LOCAL_ORG, limit=LIST_LIMIT, cwd=cwd)
        return [info_of(s) for s in rows if not s.parent_id]  # subagents' sessions are not conversations

    async def history(self, session_id: str) -> list[Event]:
        out: list[Event] = []
        while True:
            page = await self.rt.store.read_events(session_id, after=out[-1].seq if out else 0, limit=1000)
            out += page
            if len(page) < 1000:
                return out

    async def _env(self, session_id: str) -> Any:
        return await self.rt.engine.envs.env_for(await self.rt.store.get_session(session_id))

    async def commands(self, session_id: str) -> list[Command]:
        registry = (await self._env(session_id)).services.get("skills")
        custom = [] if registry is None else registry.user_invocable()
        return [
            Command(s.name, s.description or f"/{s.name}", s.argument_hint or "")
            for s in custom
            if s.name not in BUILTIN_COMMANDS
        ]

    async def help(self, session_id: str) -> str:
        registry = (await self._env(session_id)).services.get("skills")
        return help_text(registry) if registry is not None else ""

    async def run_turn(self, session_id: str, text: str, on_event: OnEvent, *, thinking: bool) -> dict[str, Any]:
        session = await self.rt.store.get_session(session_id)
        env = await self.rt.engine.envs.env_for(session)
        prepared = await prepare_prompt(text, session, env)
        if prepared.text is None:
            cmd = prepared.command
            raise ConfigError(cmd.message if cmd and cmd.message else f"/{cmd.name if cmd else '?'} cannot run here")
        env.thinking_budget = thinking_budget(self.env) if thinking else 0
        queue: asyncio.Queue[Event | None] = asyncio.Queue()
        runner = TurnRunner(
            self.rt, session_id, lambda _: None, wait_for_approvals=True, on_event=queue.put_nowait, env=self.env
        )
        await runner.start()
        self._runners[session_id] = runner
        pump = asyncio.create_task(forward(queue, on_event))
        try:
            await self.rt.engine.submit(session_id, prepared.text)
            outcome = await runner.drive()
        finally:
            self._runners.pop(session_id, None)
            queue.put_nowait(None)
            with contextlib.suppress(asyncio.CancelledError):
                await pump
        return outcome or {}

    async def compact(self, session_id: str) -> None:
        session = await self.rt.store.get_session(session_id)
        await self.rt.engine.compact(session, await self.rt.engine.envs.env_for(session), trigger="manual")

    async def answer(self, session_id: str, approval_id: str, decision: str, *, mode_after: str | None) -> None:
        if mode_after is not None:
            # ExitPlanMode returns to the mode remembered when planning began: remember the one the user chose.
            await self.rt.store.kv_put(PLAN_KV, session_id, {"previous": mode_after})
        await self.rt.engine.resolve_approval(
            session_id,
            approval_id,
            allow=decision != "deny",
            scope="always" if decision == "always" else "once",
            by="acp",
        )

    async def set_mode(self, session_id: str, mode: str) -> None:
        if mode == "plan":
            await enter_plan_mode(self.rt.engine, session_id)  # remembers the mode to return to
        else:
            await self.rt.engine.set_mode(session_id, mode)

    async def cancel(self, session_id: str) -> None:
        runner = self._runners.get(session_id)
        if runner is not None:
            await runner.interrupt()
