"""Custom slash commands: `.claude/commands/**/*.md` (project, user) and plugin `commands/*.md` (§7).

Since Claude Code 2.1.3 commands are skills, so each file becomes a `Skill` with kind "command". A file in a
subdirectory is namespaced by it (`frontend/component.md` -> `/frontend:component`) and also answers to its bare
stem while that is unambiguous.
"""

from __future__ import annotations

import os
from pathlib import Path

from dexa.config.settings import SettingsProblem
from dexa.skills.loader import PluginRef, parse_skill, project_roots
from dexa.skills.model import Skill, Source


def command_files(directory: Path, *, recursive: bool = True) -> list[Path]:
    if not directory.is_dir():
        return []
    pattern = "**/*.md" if recursive else "*.md"
    return sorted(p for p in directory.glob(pattern) if p.is_file())


def commands_in(
    directory: Path, *, source: Source, plugin: PluginRef | None = None, recursive: bool = True
) -> tuple[list[Skill], list[SettingsProblem]]:
    found: list[Skill] = []
    problems: list[SettingsProblem] = []
    for path in command_files(directory, recursive=recursive):
        rel = path.relative_to(directory).with_suffix("")
        parts = list(rel.parts)
        name = ":".join(parts)
        aliases: tuple[str, ...] = (parts[-1],) if len(parts) > 1 else ()
        if plugin is not None:
            name = f"{plugin.name}:{name}"
            aliases = ()
        skill, issues = parse_skill(str(path), name=name, source=source, kind="command", plugin=plugin, aliases=aliases)
        problems += issues
        if skill is not None:
            found.append(skill)
    return found, problems


def discover_commands(
    *, cwd: str, home: str, stop_at: str | None = None, plugins: list[tuple[PluginRef, list[Path]]] | None = None
) -> tuple[list[Skill], list[SettingsProblem]]:
    """Commands in precedence order: project (nearest first) > user > plugin."""
    found: list[Skill] = []
    problems: list[SettingsProblem] = []
    seen: set[str] = set()
    places: list[tuple[Path, Source]] = [
        (root / ".claude" / "commands", "project") for root in project_roots(cwd, stop_at)
    ]
    places.append((Path(home) / ".claude" / "commands", "user"))
    for directory, source in places:
        real = os.path.realpath(directory)
        if real in seen:
            continue
        seen.add(real)
        commands, issues = commands_in(directory, source=source)
        found += commands
        problems += issues
    for plugin, dirs in plugins or []:
        for directory in dirs:
            if directory.is_file() and directory.suffix == ".md":
                skill, issues = parse_skill(
                    str(directory),
                    name=f"{plugin.name}:{directory.stem}",
                    source="plugin",
                    kind="command",
                    plugin=plugin,
                )
                problems += issues
                found += [skill] if skill else []
                continue
            commands, issues = commands_in(directory, source="plugin", plugin=plugin, recursive=False)
            found += commands
            problems += issues
    return found, problems
