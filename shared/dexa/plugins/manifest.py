"""`.claude-plugin/plugin.json` (reference §8.2): parse and validate a plugin manifest.

Only `name` is required. Unknown keys are ignored; a known key with the wrong type fails the plugin's load with a
problem naming the file and the key. Path fields must be relative and start with `./`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dexa.config.settings import SettingsProblem

MANIFEST = Path(".claude-plugin") / "plugin.json"
KEBAB = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_PATH_LISTS = ("skills", "commands", "agents", "workflows", "outputStyles")
_CONFIG_FIELDS = ("hooks", "mcpServers", "lspServers")
_STRINGS = ("displayName", "version", "description", "homepage", "repository", "license")


@dataclass(frozen=True, slots=True, kw_only=True)
class PluginManifest:
    name: str
    version: str = ""
    description: str = ""
    display_name: str = ""
    author: dict[str, Any] = field(default_factory=dict)
    default_enabled: bool = True
    skills: tuple[str, ...] = ()
    # None keeps the default folder; a value replaces it (reference §8.2).
    commands: tuple[str, ...] | None = None
    agents: tuple[str, ...] | None = None
    hooks: Any = None
    mcp_servers: Any = None
    raw: dict[str, Any] = field(default_factory=dict)


def read_json(path: Path, problems: list[SettingsProblem]) -> Any:
    """Parsed JSON, or None with a problem naming the file and the line of the syntax error."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        problems.append(
            SettingsProblem(str(path), "", f"invalid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})")
        )
    except UnicodeDecodeError:
        problems.append(SettingsProblem(str(path), "", "file is not valid UTF-8"))
    except OSError as exc:
        problems.append(SettingsProblem(str(path), "", f"cannot read: {exc.strerror or exc}"))
    return None


def _paths(value: Any, *, file: str, key: str, problems: list[SettingsProblem]) -> tuple[str, ...] | None:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(x, str) for x in items):  # pyright: ignore[reportUnknownVariableType]
        problems.append(SettingsProblem(file, key, "must be a path string or a list of path strings"))
        return None
    for item in items:  # pyright: ignore[reportUnknownVariableType]
        if not (item.startswith("./") or (key == "skills" and item == ".")):
            problems.append(SettingsProblem(file, key, f"path {item!r} must be relative and start with ./"))
            return None
        if ".." in Path(item).parts:
            problems.append(SettingsProblem(file, key, f"path {item!r} must stay inside the plugin"))
            return None
    return tuple(items)  # pyright: ignore[reportUnknownArgumentType]


def parse_manifest(
    data: Any, *, file: str, fallback_name: str = ""
) -> tuple[PluginManifest | None, list[SettingsProblem]]:
    problems: list[SettingsProblem] = []
    if not isinstance(data, dict):
        return None, [SettingsProblem(file, "", "plugin.json must be a JSON object")]
    name = data.get("name", fallback_name)  # pyright: ignore[reportUnknownMemberType]
    if not isinstance(name, str) or not name:
        problems.append(SettingsProblem(file, "name", "is required (a kebab-case string)"))
    elif not KEBAB.match(name):
        problems.append(SettingsProblem(file, "name", f"{name!r} must be kebab-case (lowercase letters, digits, -)"))
    for key in _STRINGS:
        if key in data and not isinstance(data[key], str):
            problems.append(SettingsProblem(file, key, "must be a string"))
    author = data.get("author", {})  # pyright: ignore[reportUnknownMemberType]
    if not isinstance(author, dict):
        problems.append(SettingsProblem(file, "author", "must be an object with name, email, url"))
    enabled = data.get("defaultEnabled", True)  # pyright: ignore[reportUnknownMemberType]
    if not isinstance(enabled, bool):
        problems.append(SettingsProblem(file, "defaultEnabled", "must be true or false"))
    lists: dict[str, tuple[str, ...] | None] = {}
    for key in _PATH_LISTS:
        if key in data:
            lists[key] = _paths(data[key], file=file, key=key, problems=problems)
    for key in _CONFIG_FIELDS:
        value = data.get(key)  # pyright: ignore[reportUnknownMemberType]
        if value is None:
            continue
        if isinstance(value, dict):
            continue
        _paths(value, file=file, key=key, problems=problems)
    if problems:
        return None, problems
    return PluginManifest(
        name=str(name),
        version=str(data.get("version", "")),  # pyright: ignore[reportUnknownMemberType, reportUnknownArgumentType]
        description=str(data.get("description", "")),  # pyright: ignore[reportUnknownMemberType, reportUnknownArgumentType]
        display_name=str(data.get("displayName", "")),  # pyright: ignore[reportUnknownMemberType, reportUnknownArgumentType]
        author=dict(author),  # pyright: ignore[reportUnknownArgumentType]
        default_enabled=bool(enabled),
        skills=lists.get("skills") or (),
        commands=lists.get("commands"),
        agents=lists.get("agents"),
        hooks=data.get("hooks"),  # pyright: ignore[reportUnknownMemberType]
        mcp_servers=data.get("mcpServers"),  # pyright: ignore[reportUnknownMemberType]
        raw=dict(data),  # pyright: ignore[reportUnknownArgumentType]
    ), []


def load_manifest(root: Path) -> tuple[PluginManifest | None, list[SettingsProblem]]:
    """The plugin's manifest; a plugin without one is named after its directory (components auto-discovered)."""
    path = root / MANIFEST
    if not path.is_file():
        return PluginManifest(name=root.name), []
    problems: list[SettingsProblem] = []
    data = read_json(path, problems)
    if data is None:
        return None, problems
    return parse_manifest(data, file=str(path), fallback_name="")
