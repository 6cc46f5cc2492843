"""A subagent's environment: the parent's permission engine and workspace kind, its own tools, prompt and hooks.

`SubagentEnvs` wraps any `EnvFactory`. For a child session (its `config.extra["subagent"]` is set) it takes the
environment the base factory builds for that session and narrows it: tools filtered per the agent definition and
without the spawning/interactive tools, the agent's own system prompt, and hooks that report `agent_id` /
`agent_type` and leave Stop to the runner's SubagentStop.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import platform
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from dexa.core.environment import EnvFactory, SessionEnv
from dexa.core.ports import HookOutcome, HookRunner
from dexa.core.session import Session
from dexa.core.tools import TOOL_ALIASES, ToolRegistry

SUBAGENT_KEY = "subagent"
# Claude Code removes these from every subagent (reference §5.5); without Task there is no nesting.
EXCLUDED_FROM_SUBAGENTS = frozenset({"Task", "Agent", "AskUserQuestion", "EnterPlanMode", "ExitPlanMode"})
# The parent owns the turn's lifecycle hooks; the runner fires SubagentStop itself.
_PARENT_ONLY_HOOKS = frozenset({"Stop", "UserPromptSubmit", "SessionStart", "SessionEnd"})


def _bare(entry: str) -> str:
    name = entry.split("(", 1)[0].strip()
    return TOOL_ALIASES.get(name, name)


def _matches(entry: str, tool: str) -> bool:
    name = _bare(entry)
    if name == tool:
        return True
    if name.startswith("mcp__") and "*" in name:
        return fnmatch.fnmatchcase(tool, name)
    # `mcp__server` names every tool of that server.
    return name.startswith("mcp__") and name.count("__") == 1 and tool.startswith(name + "__")


def select_tools(available: Iterable[str], allow: Iterable[str] | None, deny: Iterable[str] = ()) -> list[str]:
    """disallowedTools first, then the `tools` allowlist against what remains (reference §5.2)."""
    names = [n for n in available if n not in EXCLUDED_FROM_SUBAGENTS]
    deny = list(deny)
    names = [n for n in names if not any(_matches(d, n) for d in deny)]
    if allow is None:
        return names
    wanted = [a for a in allow if _bare(a) not in ("Task", "Agent")]
    return [n for n in names if any(_matches(a, n) for a in wanted)]


def env_block(cwd: str) -> str:
    return "\n".join(
        [
            "<env>",
            f"Working directory: {cwd}",
            f"Platform: {platform.system().lower()}",
            f"Today's date: {dt.datetime.now(dt.UTC).date().isoformat()}",
            "</env>",
        ]
    )


class ChildHooks:
    """The parent's hooks as seen from inside a subagent."""

    def __init__(self, base: HookRunner | None, *, agent_id: str, agent_type: str) -> None:
        self.base = base
        self.agent_id = agent_id
        self.agent_type = agent_type

    async def run(self, event: str, payload: Mapping[str, Any], *, match: str | None = None) -> HookOutcome:
        if self.base is None or event in _PARENT_ONLY_HOOKS:
            return HookOutcome()
        enriched = {**payload, "agent_id": self.agent_id, "agent_type": self.agent_type}
        return await self.base.run(event, enriched, match=match)


def derive_child_env(base: SessionEnv, session: Session, spec: Mapping[str, Any]) -> SessionEnv:
    keep = set(select_tools(base.tools.names(), spec.get("tools"), spec.get("disallowed_tools", ())))
    registry = ToolRegistry(t for t in (base.tools.get(n) for n in base.tools.names() if n in keep) if t is not None)
    services = {k: v for k, v in base.services.items() if k not in ("subagents",)}
    return replace(
        base,
        tools=registry,
        system_prompt=str(spec.get("system_prompt", "")) or base.system_prompt,
        hooks=ChildHooks(base.hooks, agent_id=session.id, agent_type=str(spec.get("agent_type", ""))),
        services=services,
        startup_events=[],
    )


class SubagentEnvs:
    """EnvFactory: child sessions get a derived environment, every other session the base one unchanged."""

    def __init__(self, base: EnvFactory) -> None:
        self.base = base
        self._cache: dict[str, tuple[int, SessionEnv]] = {}

    async def env_for(self, session: Session) -> SessionEnv:
        env = await self.base.env_for(session)
        spec = session.config.extra.get(SUBAGENT_KEY)
        if not spec:
            return env
        hit = self._cache.get(session.id)
        if hit is not None and hit[0] == id(env):
            return hit[1]
        child = derive_child_env(env, session, spec)
        self._cache[session.id] = (id(env), child)
        return child

    async def release(self, session_id: str) -> None:
        self._cache.pop(session_id, None)
        await self.base.release(session_id)
