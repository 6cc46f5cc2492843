"""An editor as the ACP Python SDK's client side (`acp.spawn_agent_process`, code no one here wrote) driving `dexa acp`
as a subprocess, with the loopback Messages API answering from a script."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from acp import PROTOCOL_VERSION, spawn_agent_process
from acp.schema import (
    AllowedOutcome,
    ClientCapabilities,
    DeniedOutcome,
    PermissionOption,
    RequestPermissionResponse,
    ToolCallUpdate,
)

DEADLINE_S = 90
Answer = Callable[[ToolCallUpdate, list[PermissionOption]], Awaitable[str | None]]


async def allow_once(call: ToolCallUpdate, options: list[PermissionOption]) -> str | None:
    return next(o.option_id for o in options if o.kind == "allow_once")


class Editor:
    """The client side: records every session/update and answers permission requests with `answer`
    (an option id, or None for the `cancelled` outcome)."""

    def __init__(self, answer: Answer = allow_once) -> None:
        self.answer = answer
        self.updates: list[Any] = []
        self.asks: list[tuple[ToolCallUpdate, list[PermissionOption]]] = []
        self.conn: Any = None

    async def session_update(self, session_id: str, update: Any, **_: Any) -> None:
        self.updates.append(update)

    async def request_permission(
        self, session_id: str, tool_call: ToolCallUpdate, options: list[PermissionOption], **_: Any
    ) -> RequestPermissionResponse:
        self.asks.append((tool_call, options))
        picked = await self.answer(tool_call, options)
        if picked is None:
            return RequestPermissionResponse(outcome=DeniedOutcome(outcome="cancelled"))
        return RequestPermissionResponse(outcome=AllowedOutcome(outcome="selected", option_id=picked))

    def of(self, kind: str) -> list[Any]:
        return [u for u in self.updates if u.session_update == kind]

    def text(self, kind: str = "agent_message_chunk") -> str:
        return "".join(u.content.text for u in self.of(kind))


def agent_env(tmp: Path, model_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "DEXA_", "CLAUDE_"))}
    env.update(
        {
            "ANTHROPIC_BASE_URL": model_url,
            "ANTHROPIC_API_KEY": "sk-test",
            "DEXA_HOME": str(tmp / "dexa-home"),
            "HOME": str(tmp / "home"),
            **extra,
        }
    )
    (tmp / "home").mkdir(exist_ok=True)
    return env


@contextlib.asynccontextmanager
async def editor_with_dexa(
    tmp: Path, env: dict[str, str], editor: Editor, *args: str
) -> AsyncIterator[tuple[Any, asyncio.subprocess.Process]]:
    """`dexa acp` spawned the way Zed spawns an agent server, initialized; stderr to a log file."""
    log = (tmp / "acp-stderr.log").open("ab")
    try:
        async with spawn_agent_process(
            editor,
            sys.executable,
            "-m",
            "dexa.cli",
            "acp",
            *args,
            env=env,
            cwd=str(tmp),
            transport_kwargs={"stderr": log.fileno(), "shutdown_timeout": 10.0},
        ) as (conn, proc):
            editor.conn = conn
            init = await asyncio.wait_for(
                conn.initialize(protocol_version=PROTOCOL_VERSION, client_capabilities=ClientCapabilities()), 60
            )
            assert init.protocol_version == PROTOCOL_VERSION
            yield conn, proc
    finally:
        log.close()


def run(coro: Awaitable[Any]) -> Any:
    async def bounded() -> Any:
        return await asyncio.wait_for(coro, DEADLINE_S)

    return asyncio.run(bounded())
