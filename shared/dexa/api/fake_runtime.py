"""An offline Runtime over a scripted model and a plain directory workspace.

For API tests, benchmarks and `DEXA_BENCH_FAKE_ENV=1 dexa serve`. Nothing here is isolated: the workspace is a
plain directory and the only tool appends lines to files, so it must never back a real deployment.
"""

from __future__ import annotations

import hashlib
import posixpath
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import anyio

from dexa.adapters.sqlite import SqliteStore
from dexa.core.bus import Notifier
from dexa.core.driver import InProcessDriver
from dexa.core.engine import TurnEngine
from dexa.core.environment import SessionEnv
from dexa.core.errors import ConfigError
from dexa.core.events import EventType
from dexa.core.ports import Model, ModelRequest, PermissionPolicy, Store
from dexa.core.session import Session, SessionConfig
from dexa.core.tools import Tool, ToolRegistry
from dexa.testing.fakes import AppendTool, DirWorkspace, RulePolicy, StaticEnvs
from dexa.testing.script import Turn
from dexa.testing.scripted import FunctionModel, text, tool_use


@dataclass(slots=True, kw_only=True)
class FakeRuntime:
    """Satisfies dexa.api.ports.ApiRuntime without settings files, sandbox or model credentials."""

    store: Store
    engine: TurnEngine
    driver: InProcessDriver
    home: Path
    default_model: str = "scripted"
    # As with DEXA_SANDBOX=modal: cwd is a path in the session's remote workspace, never looked up on this disk.
    remote_workspaces: bool = False

    async def create_session(
        self,
        *,
        cwd: str,
        model: str | None = None,
        org_id: str = "org_local",
        user_id: str = "usr_local",
        permission_mode: str | None = None,
        config: SessionConfig | None = None,
        title: str = "",
        session_id: str | None = None,
        parent_id: str | None = None,
    ) -> Session:
        if self.remote_workspaces:
            path = posixpath.normpath(cwd)  # lexical: nothing is looked up
        else:
            path = await anyio.Path(cwd).resolve()
            if not await path.is_dir():
                raise ConfigError(f"working directory does not exist: {path}")
        now = time.time()
        session = Session(
            id=session_id or "ses_" + uuid.uuid4().hex[:20],
            org_id=org_id,
            user_id=user_id,
            cwd=str(path),
            model=model or self.default_model,
            permission_mode=permission_mode or "default",
            title=title,
            created_at=now,
            updated_at=now,
            config=config or SessionConfig(),
            parent_id=parent_id,
        )
        await self.store.create_session(session)
        await self.engine.emit(
            session.id,
            EventType.SESSION_CREATED,
            {
                "cwd": session.cwd,
                "model": session.model,
                "permission_mode": session.permission_mode,
                "parent_id": parent_id,
            },
        )
        return session

    async def aclose(self) -> None:
        await self.driver.aclose()
        close = getattr(self.store, "close", None)
        if close is not None:
            close()


def fake_runtime(
    home: Path,
    *,
    model: Model,
    tools: Sequence[Tool] | None = None,
    policy: PermissionPolicy | None = None,
    workspace: Path | None = None,
    can_prompt: bool = True,
    store: Store | None = None,
) -> FakeRuntime:
    home.mkdir(parents=True, exist_ok=True)
    root = workspace or home / "workspace"
    root.mkdir(parents=True, exist_ok=True)
    store = store or SqliteStore(home / "dexa.db")
    env = SessionEnv(
        model=model,
        tools=ToolRegistry(list(tools) if tools is not None else [AppendTool()]),
        policy=policy or RulePolicy(),
        workspace=DirWorkspace(root),
        system_prompt="You are a test agent.",
        can_prompt=can_prompt,
    )
    engine = TurnEngine(store, StaticEnvs(env), notifier=Notifier())
    return FakeRuntime(store=store, engine=engine, driver=InProcessDriver(engine), home=home)


def _turn_tool_results(request: ModelRequest) -> int:
    """Tool results since the last real user prompt: how many calls this turn has made so far."""
    count = 0
    for message in reversed(request.messages):
        if message.role != "user":
            continue
        if not message.tool_results:
            break
        count += len(message.tool_results)
    return count


def tool_loop_model(*, tool_calls: int = 10, delay_s: float = 0.02, line: str = "x") -> FunctionModel:
    """Answers each request after `delay_s`: an Append call until the turn made `tool_calls` of them, then text."""

    async def reply(request: ModelRequest) -> Turn:
        await anyio.sleep(delay_s)
        done = _turn_tool_results(request)
        if done >= tool_calls:
            return text(f"done after {done} tool calls")
        first = request.messages[0].text if request.messages else ""
        name = hashlib.sha256(first.encode()).hexdigest()[:12]
        return tool_use("Append", {"path": f"{name}.log", "line": f"{line}{done}"})

    return FunctionModel(reply, name="tool-loop")
