"""Subagent definitions: Markdown + YAML frontmatter in `.claude/agents/` and `~/.claude/agents/` (§5.1-5.2).

Priority on a name clash (highest first): managed, `--agents` JSON, project (nearest `.claude/agents/` first,
recursive), user, plugin (namespaced `plugin:agent`), built-in. A broken file is reported and skipped.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from dexa.config.settings import SettingsProblem
from dexa.memory.frontmatter import FieldReader, split_frontmatter
from dexa.skills.loader import PluginRef, project_roots, read_text

Source = Literal["builtin", "managed", "cli", "project", "user", "plugin"]
PERMISSION_MODES = ("default", "acceptEdits", "auto", "dontAsk", "bypassPermissions", "plan", "manual")


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentDefinition:
    name: str
    description: str
    prompt: str
    source: Source
    path: str = ""
    # None inherits every tool available to subagents.
    tools: tuple[str, ...] | None = None
    disallowed_tools: tuple[str, ...] = ()
    model: str | None = None  # None / "inherit": the parent's model
    permission_mode: str | None = None
    max_turns: int | None = None
    skills: tuple[str, ...] = ()
    hooks: dict[str, Any] | None = None
    mcp_servers: tuple[Any, ...] = ()
    color: str = ""
    plugin: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "source": self.source,
            "path": self.path,
            "tools": None if self.tools is None else list(self.tools),
            "model": self.model or "inherit",
            "permissionMode": self.permission_mode,
        }


def _definition(
    meta: Mapping[str, Any], body: str, *, file: str, source: Source, plugin: PluginRef | None, id_prefix: str
) -> tuple[AgentDefinition | None, list[SettingsProblem]]:
    f = FieldReader(meta, file=file)
    name = f.text("name", required=True).strip()
    description = f.text("description", required=True).strip()
    if name and ":" in name:
        f.problems.append(SettingsProblem(file, "name", f"{name!r} must not contain ':' (reserved for plugin ids)"))
    if not description and "description" in meta:
        f.problems.append(SettingsProblem(file, "description", "must not be empty"))
    tools = f.items("tools")
    disallowed = f.items("disallowedTools") or ()
    model = f.text("model").strip() or None
    mode = f.choice("permissionMode", PERMISSION_MODES)
    max_turns = f.integer("maxTurns")
    skills = f.items("skills") or ()
    hooks = meta.get("hooks")
    if hooks is not None and not isinstance(hooks, dict):
        f.problems.append(SettingsProblem(file, "hooks", "must be a mapping of hook events"))
    servers = meta.get("mcpServers")
    if f.problems:
        return None, f.problems
    if plugin is not None:
        # Plugin agents may not raise their own permissions or bring hooks/servers (reference §5.1).
        mode, hooks, servers = None, None, None
    return AgentDefinition(
        name=f"{id_prefix}{name}",
        description=description,
        prompt=body.strip(),
        source=source,
        path=file,
        tools=tools,
        disallowed_tools=disallowed,
        model=None if model in (None, "inherit") else model,
        permission_mode="default" if mode == "manual" else mode,
        max_turns=max_turns,
        skills=skills,
        hooks=hooks if isinstance(hooks, dict) else None,  # pyright: ignore[reportUnknownArgumentType]
        mcp_servers=tuple(servers) if isinstance(servers, list | dict) else (),  # pyright: ignore[reportUnknownArgumentType]
        color=f.text("color"),
        plugin=plugin.name if plugin else None,
    ), []


def parse_agent_file(
    path: str, *, source: Source, plugin: PluginRef | None = None, id_prefix: str = ""
) -> tuple[AgentDefinition | None, list[SettingsProblem]]:
    problems: list[SettingsProblem] = []
    text = read_text(path, problems)
    if text is None:
        return None, problems
    doc, problem = split_frontmatter(text, file=path)
    if problem is not None:
        return None, [problem]
    if not doc.has_frontmatter:
        message = "agent files need YAML frontmatter with name and description"
        return None, [SettingsProblem(path, "frontmatter", message)]
    return _definition(doc.meta, doc.body, file=path, source=source, plugin=plugin, id_prefix=id_prefix)


def agents_in(
    directory: Path, *, source: Source, plugin: PluginRef | None = None
) -> tuple[list[AgentDefinition], list[SettingsProblem]]:
    found: list[AgentDefinition] = []
    problems: list[SettingsProblem] = []
    if not directory.is_dir():
        return found, problems
    for path in sorted(directory.rglob("*.md")):
        if not path.is_file():
            continue
        prefix = ""
        if plugin is not None:
            sub = path.parent.relative_to(directory).parts
            prefix = ":".join((plugin.name, *sub)) + ":"
        agent, issues = parse_agent_file(str(path), source=source, plugin=plugin, id_prefix=prefix)
        problems += issues
        if agent is not None:
            found.append(agent)
    return found, problems


def agents_from_json(
    raw: str | Mapping[str, Any], *, source_name: str = "--agents"
) -> tuple[list[AgentDefinition], list[SettingsProblem]]:
    """The `--agents '<json>'` flag: an object keyed by name with `description`, `prompt`, `tools`, ..."""
    try:
        data = json.loads(raw) if isinstance(raw, str) else dict(raw)
    except json.JSONDecodeError as exc:
        return [], [SettingsProblem(source_name, "", f"invalid JSON: {exc.msg} (line {exc.lineno})")]
    if not isinstance(data, dict):
        return [], [SettingsProblem(source_name, "", "must be a JSON object keyed by agent name")]
    found: list[AgentDefinition] = []
    problems: list[SettingsProblem] = []
    for name, spec in data.items():  # pyright: ignore[reportUnknownVariableType]
        if not isinstance(spec, dict):
            problems.append(SettingsProblem(source_name, str(name), "must be an object"))  # pyright: ignore[reportUnknownArgumentType]
            continue
        meta = {**spec, "name": name}  # pyright: ignore[reportUnknownVariableType]
        agent, issues = _definition(
            meta,
            str(spec.get("prompt", "")),
            file=source_name,
            source="cli",  # pyright: ignore[reportUnknownArgumentType,reportUnknownMemberType]
            plugin=None,
            id_prefix="",
        )
        problems += issues
        found += [agent] if agent else []
    return found, problems


class AgentRegistry:
    """Agents by name; the first definition of a name (highest priority) wins."""

    def __init__(self, agents: Iterable[AgentDefinition] = ()) -> None:
        self._agents: dict[str, AgentDefinition] = {}
        for agent in agents:
            self.add(agent)

    def add(self, agent: AgentDefinition) -> bool:
        if agent.name in self._agents:
            return False
        self._agents[agent.name] = agent
        return True

    def get(self, name: str) -> AgentDefinition | None:
        return self._agents.get(name)

    def all(self) -> list[AgentDefinition]:
        return list(self._agents.values())

    def names(self) -> list[str]:
        return list(self._agents)


def discover_agents(
    *,
    cwd: str,
    home: str,
    managed_dir: str | None = None,
    cli_agents: str | Mapping[str, Any] | None = None,
    stop_at: str | None = None,
    plugins: Iterable[tuple[PluginRef, list[Path]]] = (),
    builtins: Iterable[AgentDefinition] = (),
) -> tuple[AgentRegistry, list[SettingsProblem]]:
    registry = AgentRegistry()
    problems: list[SettingsProblem] = []
    places: list[tuple[Path, Source]] = []
    if managed_dir:
        places.append((Path(managed_dir) / ".claude" / "agents", "managed"))
    ordered: list[tuple[Path, Source]] = [
        (root / ".claude" / "agents", "project") for root in project_roots(cwd, stop_at)
    ]
    ordered.append((Path(home) / ".claude" / "agents", "user"))
    seen: set[str] = set()

    def add_all(found: list[AgentDefinition], issues: list[SettingsProblem]) -> None:
        problems.extend(issues)
        for agent in found:
            registry.add(agent)

    for directory, source in places:
        add_all(*agents_in(directory, source=source))
    if cli_agents:
        add_all(*agents_from_json(cli_agents))
    for directory, source in ordered:
        real = os.path.realpath(directory)
        if real in seen:
            continue
        seen.add(real)
        add_all(*agents_in(directory, source=source))
    for plugin, dirs in plugins:
        for directory in dirs:
            if directory.is_file():
                agent, issues = parse_agent_file(
                    str(directory), source="plugin", plugin=plugin, id_prefix=f"{plugin.name}:"
                )
                add_all([agent] if agent else [], issues)
            else:
                add_all(*agents_in(directory, source="plugin", plugin=plugin))
    for agent in builtins:
        registry.add(replace(agent))
    return registry, problems
