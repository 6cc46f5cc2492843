"""Memory and extensions inside a real session: the prompt carries memory, Read pulls in subtree memory,
a broken SKILL.md is reported while the session still runs, and skills/commands reach the model."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from dexa.adapters.sqlite import SqliteStore
from dexa.agents import load_extensions
from dexa.commands import ExpandContext, expand_prompt
from dexa.core.driver import InProcessDriver
from dexa.core.engine import TurnEngine
from dexa.core.environment import SessionEnv
from dexa.core.events import EventType
from dexa.core.ports import ToolSpec
from dexa.core.session import Session
from dexa.core.tools import ToolContext, ToolOutput, ToolRegistry
from dexa.runtime.prompt import build_system_prompt
from dexa.testing.fakes import DirWorkspace, RulePolicy
from dexa.testing.scripted import ScriptedModel, text, tool_use


class MemoryAwareRead:
    """What the lead's Read tool does: return the file, plus any memory the access brings into context."""

    read_only = True
    spec = ToolSpec(
        name="Read",
        description="Read a file",
        input_schema={"type": "object", "properties": {"file_path": {"type": "string"}}, "required": ["file_path"]},
    )

    async def run(self, tool_input: dict[str, Any], ctx: ToolContext) -> ToolOutput:
        path = tool_input["file_path"]
        content = (await ctx.workspace.read_bytes(path)).decode()
        reminder = await ctx.services["memory"].reminder_for(path, ctx.kv, ctx.session_id)
        return ToolOutput(content=content + (f"\n\n{reminder}" if reminder else ""))


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def setup(tmp_path: Path, steps: list[Any]) -> tuple[SqliteStore, TurnEngine, ScriptedModel, Any]:
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    write(repo / "CLAUDE.md", "Always run `make check`. @docs/conventions.md")
    write(repo / "docs" / "conventions.md", "Use snake_case.")
    write(repo / "services" / "billing" / "CLAUDE.md", "Billing amounts are integer cents.")
    write(repo / "services" / "billing" / "invoice.py", "TOTAL = 100\n")
    write(repo / ".claude" / "rules" / "py.md", "---\npaths: ['**/*.py']\n---\nType-annotate Python.")
    write(
        repo / ".claude" / "skills" / "release" / "SKILL.md",
        "---\ndescription: Cut a release\nallowed-tools: Append\n---\nRelease version $0 now.",
    )
    write(
        repo / ".claude" / "skills" / "broken" / "SKILL.md", "---\ndescription: ok\nuser-invocable: perhaps\n---\nbody"
    )
    write(repo / ".claude" / "commands" / "greet.md", "---\ndescription: Greet\n---\nSay hello to $ARGUMENTS.")
    ext = load_extensions(
        str(repo), home=tmp_path / "home", settings_plugins={}, managed_dir=None, stop_at=str(tmp_path)
    )
    model = ScriptedModel(steps)
    store = SqliteStore(tmp_path / "db.sqlite")

    class Envs:
        env: SessionEnv | None = None

        async def env_for(self, session: Session) -> SessionEnv:
            if self.env is None:
                env = SessionEnv(
                    model=model,
                    tools=ToolRegistry([MemoryAwareRead()]),
                    policy=RulePolicy(),
                    workspace=DirWorkspace(repo),
                    system_prompt=build_system_prompt(cwd=str(repo), memory=ext.memory_text),
                    startup_events=[(EventType.CONFIG_ERROR, p.to_event()) for p in ext.problems],
                )
                self.env = ext.customize_env(env, session)
            return self.env

        async def release(self, session_id: str) -> None:
            return None

    envs = Envs()
    engine = TurnEngine(store, envs)
    ext.bind(engine, envs, store)
    asyncio.run(
        store.create_session(
            Session(id="s1", org_id="o", user_id="u", cwd=str(repo), model="scripted", created_at=time.time())
        )
    )
    return store, engine, model, ext


def test_memory_is_in_the_system_prompt_and_subtree_memory_arrives_with_the_first_read(tmp_path: Path) -> None:
    invoice = str(tmp_path / "repo" / "services" / "billing" / "invoice.py")
    _store, engine, model, _ = setup(
        tmp_path, [tool_use("Read", {"file_path": invoice}), tool_use("Read", {"file_path": invoice}), text("done")]
    )

    async def main() -> None:
        await engine.submit("s1", "fix billing")
        await InProcessDriver(engine).run("s1")

    asyncio.run(main())
    system = model.calls[0].system
    assert "Always run `make check`." in system and "Use snake_case." in system
    assert "Billing amounts" not in system and "Type-annotate" not in system
    first = model.calls[1].messages[-1].tool_results[0].content
    assert "TOTAL = 100" in first and "Billing amounts are integer cents." in first and "Type-annotate Python." in first
    second = model.calls[2].messages[-1].tool_results[0].content
    assert second.strip() == "TOTAL = 100"


def test_a_broken_skill_is_reported_and_the_session_still_runs_with_the_other_skills(tmp_path: Path) -> None:
    store, engine, model, ext = setup(
        tmp_path, [tool_use("Skill", {"skill": "release", "args": "1.2.0"}), text("released")]
    )
    broken = str(tmp_path / "repo" / ".claude" / "skills" / "broken" / "SKILL.md")
    assert [(p.file, p.key) for p in ext.problems] == [(broken, "user-invocable")]

    async def main() -> None:
        await engine.submit("s1", "ship it")
        await InProcessDriver(engine).run("s1")

    asyncio.run(main())
    events = asyncio.run(store.read_events("s1"))
    errors = [e.data for e in events if e.type == EventType.CONFIG_ERROR]
    assert errors == [{"file": broken, "key": "user-invocable", "message": ext.problems[0].message}]
    assert "perhaps" in errors[0]["message"]
    skill_tool = next(t for t in model.calls[0].tools if t.name == "Skill")
    assert "- release: Cut a release" in skill_tool.description and "Release version" not in skill_tool.description
    result = model.calls[1].messages[-1].tool_results[0]
    assert "Release version 1.2.0 now." in result.content
    assert asyncio.run(store.get_session("s1")).result == "released"


def test_a_typed_slash_command_is_expanded_before_submission(tmp_path: Path) -> None:
    _store, engine, model, ext = setup(tmp_path, [text("hello!")])

    async def main() -> None:
        prompt = await expand_prompt("/greet the team", ExpandContext(registry=ext.commands, cwd=str(tmp_path)))
        assert isinstance(prompt, str)
        await engine.submit("s1", prompt)
        await InProcessDriver(engine).run("s1")

    asyncio.run(main())
    assert "Say hello to the team." in model.calls[0].messages[-1].text
