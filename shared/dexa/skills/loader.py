"""Find and parse skills: `.claude/skills/<name>/SKILL.md` at managed, user, project and plugin level (§6.1-6.2).

A broken SKILL.md is reported as a `SettingsProblem` naming the file and the field, and only that skill is
skipped; the session starts with the rest.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dexa.config.settings import SettingsProblem
from dexa.memory.frontmatter import FieldReader, split_frontmatter

from .model import Kind, Skill, Source, first_line, first_paragraph

logger = logging.getLogger(__name__)

SKILL_FILE = "SKILL.md"


@dataclass(frozen=True, slots=True, kw_only=True)
class PluginRef:
    """What skills, commands and agents need to know about the plugin that ships them."""

    name: str
    root: str
    data_dir: str = ""


def read_text(path: str, problems: list[SettingsProblem]) -> str | None:
    try:
        return Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        problems.append(SettingsProblem(path, "", "file is not valid UTF-8"))
    except OSError as exc:
        problems.append(SettingsProblem(path, "", f"cannot read file: {exc.strerror or exc}"))
    return None


def parse_skill(
    path: str,
    *,
    name: str,
    source: Source,
    kind: Kind = "skill",
    plugin: PluginRef | None = None,
    aliases: tuple[str, ...] = (),
) -> tuple[Skill | None, list[SettingsProblem]]:
    """Parse one SKILL.md or command file. Returns (None, problems) when the file cannot be used."""
    problems: list[SettingsProblem] = []
    text = read_text(path, problems)
    if text is None:
        return None, problems
    doc, problem = split_frontmatter(text, file=path)
    if problem is not None:
        return None, [problem]
    f = FieldReader(doc.meta, file=path)
    display = f.text("name")
    description = f.text("description")
    hint = doc.meta.get("argument-hint")
    if isinstance(hint, list):  # `argument-hint: [issue-number]` is a YAML list
        hint = " ".join(f"[{x}]" for x in hint)  # pyright: ignore[reportUnknownVariableType]
        argument_hint = str(hint)
    else:
        argument_hint = f.text("argument-hint")
    hooks = doc.meta.get("hooks")
    if hooks is not None and not isinstance(hooks, dict):
        problems.append(SettingsProblem(path, "hooks", "must be a mapping of hook events"))
    skill = Skill(
        name=name if kind == "command" or plugin is None or not display else f"{plugin.name}:{display}",
        description=description or (first_line(doc.body) if kind == "command" else first_paragraph(doc.body)),
        body=doc.body,
        path=os.path.abspath(path),
        base_dir=os.path.dirname(os.path.abspath(path)),
        source=source,
        kind=kind,
        display_name=display,
        when_to_use=f.text("when_to_use"),
        argument_hint=argument_hint,
        arguments=f.items("arguments") or (),
        allowed_tools=f.items("allowed-tools") or (),
        disallowed_tools=f.items("disallowed-tools") or (),
        model=f.text("model") or None,
        disable_model_invocation=f.flag("disable-model-invocation"),
        user_invocable=f.flag("user-invocable", default=True),
        context=f.choice("context", ("fork",)),
        agent=f.text("agent") or None,
        paths=f.items("paths") or (),
        shell=f.choice("shell", ("bash", "powershell")) or "bash",
        hooks=hooks if isinstance(hooks, dict) else None,  # pyright: ignore[reportUnknownArgumentType]
        plugin=plugin.name if plugin else None,
        plugin_root=plugin.root if plugin else None,
        plugin_data=plugin.data_dir if plugin else None,
        aliases=aliases,
    )
    problems.extend(f.problems)
    if problems:
        return None, problems
    return skill, []


def skills_in(directory: Path, *, source: Source, plugin: PluginRef | None = None) -> tuple[list[Skill], list[Any]]:
    """Every `<directory>/<name>/SKILL.md`, sorted by name."""
    skills: list[Skill] = []
    problems: list[SettingsProblem] = []
    if not directory.is_dir():
        return skills, problems
    for child in sorted(directory.iterdir()):
        skill_file = child / SKILL_FILE
        if not child.is_dir() or child.name == "synced" or not skill_file.is_file():
            continue
        name = f"{plugin.name}:{child.name}" if plugin else child.name
        skill, found = parse_skill(str(skill_file), name=name, source=source, plugin=plugin)
        problems.extend(found)
        if skill is not None:
            skills.append(skill)
    return skills, problems


def project_roots(cwd: str, stop_at: str | None = None) -> list[Path]:
    """cwd and each parent up to the repository root (the first directory holding `.git`), nearest first."""
    here = Path(os.path.abspath(cwd))
    chain: list[Path] = []
    for directory in (here, *here.parents):
        chain.append(directory)
        if (directory / ".git").exists() or (stop_at is not None and directory == Path(os.path.abspath(stop_at))):
            return chain
    return [here]


def discover_skills(
    *,
    cwd: str,
    home: str,
    managed_dir: str | None = None,
    stop_at: str | None = None,
    plugins: Iterable[tuple[PluginRef, list[Path]]] = (),
) -> tuple[list[Skill], list[SettingsProblem]]:
    """Skills in precedence order: managed > personal > project (nearest first) > plugin (namespaced)."""
    found: list[Skill] = []
    problems: list[SettingsProblem] = []
    places: list[tuple[Path, Source]] = []
    if managed_dir:
        places.append((Path(managed_dir) / ".claude" / "skills", "managed"))
    places.append((Path(home) / ".claude" / "skills", "user"))
    for root in project_roots(cwd, stop_at):
        places.append((root / ".claude" / "skills", "project"))
    seen_dirs: set[str] = set()
    for directory, source in places:
        real = os.path.realpath(directory)
        if real in seen_dirs:
            continue
        seen_dirs.add(real)
        skills, issues = skills_in(directory, source=source)
        found += skills
        problems += issues
    for plugin, dirs in plugins:
        for directory in dirs:
            if (
                (directory / SKILL_FILE).is_file()
                and not (directory / "skills").is_dir()
                and directory == Path(plugin.root)
            ):
                skill, issues = parse_skill(
                    str(directory / SKILL_FILE), name=plugin.name, source="plugin", plugin=plugin
                )
                problems += issues
                found += [skill] if skill else []
                continue
            skills, issues = skills_in(directory, source="plugin", plugin=plugin)
            found += skills
            problems += issues
    return found, problems
