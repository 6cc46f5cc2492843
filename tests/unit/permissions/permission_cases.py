"""Permission test helpers: a settings stack on disk plus an engine, and one-line case builders.

Placeholders `{cwd}`, `{home}` and `{outside}` in inputs and rules are filled per test; a literal brace is
written `{{` / `}}`. `source` uses layer names (project, local, user, managed, cli, policy) or a literal
such as `mode:default` / `builtin:read-only`. `ANY` skips a check.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dexa.config.loader import load_settings
from dexa.config.settings import EffectiveSettings, SettingsProblem
from dexa.permissions.engine import PermissionEngine

ANY = object()


@dataclass(frozen=True)
class Case:
    id: str
    tool: str
    input: dict[str, Any]
    expect: str
    rule: Any = ANY
    source: Any = ANY
    mode: str = "default"
    layers: dict[str, Any] = field(default_factory=dict)
    add_dirs: tuple[str, ...] = ()


def perms(allow: tuple[str, ...] = (), ask: tuple[str, ...] = (), deny: tuple[str, ...] = (), **extra: Any) -> dict:
    p: dict[str, Any] = dict(extra)
    if allow:
        p["allow"] = list(allow)
    if ask:
        p["ask"] = list(ask)
    if deny:
        p["deny"] = list(deny)
    return {"permissions": p}


def bash(
    id: str,
    command: str,
    expect: str,
    *,
    allow: tuple[str, ...] = (),
    ask: tuple[str, ...] = (),
    deny: tuple[str, ...] = (),
    rule: Any = ANY,
    source: Any = ANY,
    mode: str = "default",
    add_dirs: tuple[str, ...] = (),
    **input_extra: Any,
) -> Case:
    """A Bash case with its rules in the project's .claude/settings.json."""
    layers = {"project": perms(allow, ask, deny)} if (allow or ask or deny) else {}
    return Case(id, "Bash", {"command": command, **input_extra}, expect, rule, source, mode, layers, add_dirs)


def tool(
    id: str,
    name: str,
    tool_input: dict[str, Any],
    expect: str,
    *,
    allow: tuple[str, ...] = (),
    ask: tuple[str, ...] = (),
    deny: tuple[str, ...] = (),
    rule: Any = ANY,
    source: Any = ANY,
    mode: str = "default",
    add_dirs: tuple[str, ...] = (),
    layers: dict[str, Any] | None = None,
) -> Case:
    layers = dict(layers or {})
    if allow or ask or deny:
        layers["project"] = perms(allow, ask, deny)
    return Case(id, name, tool_input, expect, rule, source, mode, layers, add_dirs)


@dataclass
class Stack:
    cwd: str
    home: str
    outside: str
    managed: str
    settings: EffectiveSettings
    problems: list[SettingsProblem]
    engine: PermissionEngine

    def source(self, name: str) -> str:
        """Symbolic layer names used in the case tables -> the real source strings."""
        return {
            "project": os.path.join(self.cwd, ".claude", "settings.json"),
            "local": os.path.join(self.cwd, ".claude", "settings.local.json"),
            "user": os.path.join(self.home, ".claude", "settings.json"),
            "managed": self.managed,
        }.get(name, name)

    def fill(self, value: Any) -> Any:
        if isinstance(value, str):
            return value.format(cwd=self.cwd, home=self.home, outside=self.outside)
        if isinstance(value, Mapping):
            return {k: self.fill(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.fill(v) for v in value]
        return value


def _write(path: str, data: Mapping[str, Any] | None) -> None:
    if data is None:
        return
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(data, fh)


def build_stack(
    tmp_path: Path,
    *,
    project: Mapping[str, Any] | None = None,
    local: Mapping[str, Any] | None = None,
    user: Mapping[str, Any] | None = None,
    managed: Mapping[str, Any] | None = None,
    cli: Mapping[str, Any] | None = None,
    org_policy: Mapping[str, Any] | None = None,
    add_dirs: tuple[str, ...] = (),
) -> Stack:
    cwd = str(tmp_path / "repo")
    home = str(tmp_path / "home")
    outside = str(tmp_path / "elsewhere")
    for d in (cwd, home, outside, os.path.join(cwd, "src"), os.path.join(cwd, ".git")):
        os.makedirs(d, exist_ok=True)
    managed_path = str(tmp_path / "etc" / "managed-settings.json")
    _write(os.path.join(cwd, ".claude", "settings.json"), project)
    _write(os.path.join(cwd, ".claude", "settings.local.json"), local)
    _write(os.path.join(home, ".claude", "settings.json"), user)
    _write(managed_path, managed)
    filled_cli = None
    if cli is not None:
        filled_cli = {k: (v.format(cwd=cwd, outside=outside) if isinstance(v, str) else v) for k, v in cli.items()}
    settings, problems = load_settings(
        cwd, home=home, cli=filled_cli, org_policy=org_policy, managed_path=managed_path, env={}
    )
    extra = tuple(d.format(outside=outside, cwd=cwd, home=home) for d in add_dirs)
    engine = PermissionEngine(settings, additional_dirs=extra)
    return Stack(cwd, home, outside, managed_path, settings, problems, engine)
