"""A real engine over SQLite with a routed scripted model: parent and subagent requests go to separate scripts."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dexa.adapters.sqlite import SqliteStore
from dexa.agents import Extensions, load_extensions
from dexa.core.driver import InProcessDriver
from dexa.core.engine import TurnEngine
from dexa.core.environment import SessionEnv
from dexa.core.events import Event
from dexa.core.ports import DeltaSink, HookOutcome, ModelRequest, ModelResponse, ToolSpec
from dexa.core.session import Session, SessionConfig
from dexa.core.tools import ToolContext, ToolOutput, ToolRegistry
from dexa.testing.fakes import AppendTool, DirWorkspace, RulePolicy
from dexa.testing.scripted import ScriptedModel

PARENT_SYSTEM = "You are the parent agent."


class ReadTool:
    """A minimal read-only `Read` so read-only agents have something to use."""

    read_only = True
    spec = ToolSpec(
        name="Read",
        description="Read a file",
        input_schema={"type": "object", "properties": {"file_path": {"type": "string"}}, "required": ["file_path"]},
    )

    async def run(self, tool_input: dict[str, Any], ctx: ToolContext) -> ToolOutput:
        data = await ctx.workspace.read_bytes(str(Path(ctx.workspace.root, tool_input["file_path"])))
        return ToolOutput(content=data.decode())


class RoutedModel:
    """Parent requests (the parent's system prompt) go to `parent`, every other request to `child`."""

    def __init__(self, parent: ScriptedModel, child: ScriptedModel, *, name: str = "scripted") -> None:
        self.name = name
        self.parent = parent
        self.child = child

    async def complete(self, request: ModelRequest, on_delta: DeltaSink | None = None) -> ModelResponse:
        target = self.parent if request.system.startswith(PARENT_SYSTEM) else self.child
        return await target.complete(request, on_delta)


@dataclass
class RecordingHooks:
    """A HookRunner that records every call; `outcomes[event]` lists the outcomes to return, in order."""

    calls: list[tuple[str, dict[str, Any], str | None]] = field(default_factory=list)
    outcomes: dict[str, list[HookOutcome]] = field(default_factory=dict)

    async def run(self, event: str, payload: Mapping[str, Any], *, match: str | None = None) -> HookOutcome:
        self.calls.append((event, dict(payload), match))
        queue = self.outcomes.get(event)
        return queue.pop(0) if queue else HookOutcome()

    def events(self, name: str) -> list[dict[str, Any]]:
        return [payload for event, payload, _ in self.calls if event == name]


class Envs:
    def __init__(
        self, root: Path, ext: Extensions, model: Any, policy: RulePolicy, hooks: RecordingHooks, plan_model: Any = None
    ) -> None:
        self.root, self.ext, self.model, self.policy, self.hooks = root, ext, model, policy, hooks
        self.plan_model = plan_model
        self.appends = AppendTool()
        self.cache: dict[str, SessionEnv] = {}
        self.released: list[str] = []

    async def env_for(self, session: Session) -> SessionEnv:
        env = self.cache.get(session.id)
        if env is None:
            env = SessionEnv(
                model=self.model,
                plan_model=self.plan_model,
                tools=ToolRegistry([self.appends, ReadTool()]),
                policy=self.policy,
                workspace=DirWorkspace(self.root),
                system_prompt=PARENT_SYSTEM,
                hooks=self.hooks,
                can_prompt=not session.config.headless,
            )
            env = self.ext.customize_env(env, session)
            self.cache[session.id] = env
        return env

    async def release(self, session_id: str) -> None:
        self.released.append(session_id)
        self.cache.pop(session_id, None)


@dataclass
class Harness:
    root: Path
    store: SqliteStore
    engine: TurnEngine
    envs: Envs
    ext: Extensions
    hooks: RecordingHooks

    async def start(
        self, prompt: str, *, session_id: str = "s1", mode: str = "default", config: SessionConfig | None = None
    ) -> None:
        try:
            await self.store.get_session(session_id)
        except Exception:
            await self.store.create_session(
                Session(
                    id=session_id,
                    org_id="o",
                    user_id="u",
                    cwd=str(self.root),
                    model="scripted",
                    permission_mode=mode,
                    config=config or SessionConfig(),
                    created_at=time.time(),
                )
            )
        await self.engine.submit(session_id, prompt)

    async def run(self, prompt: str, **kw: Any) -> Session:
        await self.start(prompt, **kw)
        return await asyncio.wait_for(InProcessDriver(self.engine).run(kw.get("session_id", "s1")), 20)

    async def events(self, session_id: str = "s1") -> list[Event]:
        return await self.store.read_events(session_id, limit=10_000)


def make(
    tmp_path: Path, parent: list[Any], child: list[Any], *, policy: RulePolicy | None = None, plan_model: Any = None
) -> tuple[Harness, ScriptedModel, ScriptedModel]:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    (work / ".git").mkdir(exist_ok=True)
    ext = load_extensions(str(work), home=home, settings_plugins={}, managed_dir=None, stop_at=str(work))
    parent_model, child_model = ScriptedModel(parent, name="parent"), ScriptedModel(child, name="child")
    hooks = RecordingHooks()
    store = SqliteStore(tmp_path / "db.sqlite")
    envs = Envs(work, ext, RoutedModel(parent_model, child_model), policy or RulePolicy(), hooks, plan_model)
    engine = TurnEngine(store, envs)
    ext.bind(engine, envs, store)
    ext.runner.poll_s = 0.05
    return Harness(work, store, engine, envs, ext, hooks), parent_model, child_model
