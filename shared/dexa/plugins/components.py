"""What an enabled plugin contributes: skills, commands, agents, hooks and MCP servers (reference §8.1-8.2).

`${CLAUDE_PLUGIN_ROOT}` and `${CLAUDE_PLUGIN_DATA}` are expanded in hook commands and MCP server configs, and are
substituted in skill/command bodies at render time (the skill records its plugin root).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dexa.config.settings import SettingsProblem
from dexa.skills.loader import PluginRef

from .manifest import PluginManifest, load_manifest, read_json

_VAR = re.compile(r"\$\{(CLAUDE_PLUGIN_ROOT|CLAUDE_PLUGIN_DATA|CLAUDE_PROJECT_DIR)\}")


@dataclass(slots=True, kw_only=True)
class LoadedPlugin:
    ref: PluginRef
    manifest: PluginManifest
    skill_dirs: list[Path] = field(default_factory=list)
    command_paths: list[Path] = field(default_factory=list)
    agent_paths: list[Path] = field(default_factory=list)
    hooks: dict[str, list[Any]] = field(default_factory=dict)
    mcp_servers: dict[str, dict[str, Any]] = field(default_factory=dict)
    has_bin: bool = False

    @property
    def runs_code(self) -> list[str]:
        """What in this plugin executes code: shown before installation so trust is an explicit decision."""
        out = [f"hook {event}" for event in self.hooks]
        out += [f"MCP server {name}" for name in self.mcp_servers]
        if self.has_bin:
            out.append("bin/ executables on the Bash PATH")
        return out


def expand(value: Any, variables: dict[str, str]) -> Any:
    if isinstance(value, str):
        return _VAR.sub(lambda m: variables.get(m.group(1), m.group(0)), value)
    if isinstance(value, list):
        return [expand(v, variables) for v in value]  # pyright: ignore[reportUnknownVariableType]
    if isinstance(value, dict):
        return {k: expand(v, variables) for k, v in value.items()}  # pyright: ignore[reportUnknownVariableType]
    return value


def _config_sources(
    value: Any, root: Path, default: Path, problems: list[SettingsProblem], *, key: str
) -> list[tuple[str, Any]]:
    """(file, parsed JSON) for the default file plus what the manifest field names (paths or an inline object)."""
    out: list[tuple[str, Any]] = []
    if default.is_file():
        data = read_json(default, problems)
        if data is not None:
            out.append((str(default), data))
    if isinstance(value, dict):
        out.append((str(root / ".claude-plugin" / "plugin.json"), {key: value}))
    elif value is not None:
        for rel in [value] if isinstance(value, str) else list(value):
            path = (root / rel).resolve()
            if path == default.resolve():
                continue
            data = read_json(path, problems) if path.is_file() else None
            if data is None and not path.is_file():
                problems.append(
                    SettingsProblem(str(root / ".claude-plugin" / "plugin.json"), key, f"{rel} does not exist")
                )
            if data is not None:
                out.append((str(path), data))
    return out


def _merge_hooks(
    sources: list[tuple[str, Any]], variables: dict[str, str], problems: list[SettingsProblem]
) -> dict[str, list[Any]]:
    merged: dict[str, list[Any]] = {}
    for file, data in sources:
        hooks = data.get("hooks") if isinstance(data, dict) else None
        if not isinstance(hooks, dict):
            problems.append(SettingsProblem(file, "hooks", 'must be an object: {"hooks": {"PreToolUse": [...]}}'))
            continue
        for event, groups in hooks.items():  # pyright: ignore[reportUnknownVariableType]
            if not isinstance(groups, list):
                problems.append(SettingsProblem(file, f"hooks.{event}", "must be a list of matcher groups"))
                continue
            merged.setdefault(str(event), []).extend(expand(groups, variables))  # pyright: ignore[reportUnknownArgumentType]
    return merged


def _merge_servers(
    sources: list[tuple[str, Any]], plugin: str, variables: dict[str, str], problems: list[SettingsProblem]
) -> dict[str, dict[str, Any]]:
    merged: dict[str, dict[str, Any]] = {}
    for file, data in sources:
        servers = data.get("mcpServers", data) if isinstance(data, dict) else None
        if not isinstance(servers, dict):
            problems.append(SettingsProblem(file, "mcpServers", "must be an object keyed by server name"))
            continue
        for name, config in servers.items():  # pyright: ignore[reportUnknownVariableType]
            if not isinstance(config, dict):
                problems.append(SettingsProblem(file, f"mcpServers.{name}", "must be an object"))
                continue
            # Named so the tools come out as mcp__plugin_<plugin>_<server>__<tool>, as in Claude Code.
            merged[f"plugin_{plugin}_{name}"] = expand(config, variables)
    return merged


def load_plugin(
    root: Path, *, data_dir: Path, project_dir: str = "", name_override: str | None = None
) -> tuple[LoadedPlugin | None, list[SettingsProblem]]:
    manifest, problems = load_manifest(root)
    if manifest is None:
        return None, problems
    name = name_override or manifest.name
    ref = PluginRef(name=name, root=str(root), data_dir=str(data_dir))
    variables = {
        "CLAUDE_PLUGIN_ROOT": str(root),
        "CLAUDE_PLUGIN_DATA": str(data_dir),
        "CLAUDE_PROJECT_DIR": project_dir,
    }
    plugin = LoadedPlugin(ref=ref, manifest=manifest, has_bin=(root / "bin").is_dir())
    plugin.skill_dirs = [root / "skills"] + [root / p for p in manifest.skills]
    if not (root / "skills").is_dir() and (root / "SKILL.md").is_file():
        plugin.skill_dirs = [root]
    plugin.command_paths = (
        [root / p for p in manifest.commands] if manifest.commands is not None else [root / "commands"]
    )
    plugin.agent_paths = [root / p for p in manifest.agents] if manifest.agents is not None else [root / "agents"]
    plugin.hooks = _merge_hooks(
        _config_sources(manifest.hooks, root, root / "hooks" / "hooks.json", problems, key="hooks"), variables, problems
    )
    plugin.mcp_servers = _merge_servers(
        _config_sources(manifest.mcp_servers, root, root / ".mcp.json", problems, key="mcpServers"),
        name,
        variables,
        problems,
    )
    return plugin, problems
