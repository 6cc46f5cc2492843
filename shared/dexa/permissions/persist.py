"""Persisting "always allow" answers the way Claude Code does (reference §2.2).

Bash, WebFetch and WebSearch approvals are written to `.claude/settings.local.json` (at the git repository
root, like Claude Code ≥2.1.211); every other tool's approval lasts for the session only
(`PermissionEngine.add_session_rule`).
"""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any, Literal

from dexa.config.locations import local_settings_dir
from dexa.core.errors import ConfigError

from .rules import RuleSyntaxError, parse_rule

_PERSISTENT_TOOLS = frozenset({"Bash", "WebFetch", "WebSearch"})


def persistence_scope(rule: str) -> Literal["local", "session"]:
    """Where an "always allow" for `rule` belongs: the local settings file, or this session only."""
    try:
        tool = parse_rule(rule).tool
    except RuleSyntaxError as exc:
        raise ConfigError(str(exc)) from exc
    return "local" if tool in _PERSISTENT_TOOLS else "session"


def local_settings_path(project_dir: str, *, home: str | None = None) -> str:
    root = local_settings_dir(project_dir, home or os.path.expanduser("~"))
    return os.path.join(root, ".claude", "settings.local.json")


def persist_allow_rule(project_dir: str, rule: str, *, home: str | None = None) -> str:
    """Add `rule` to permissions.allow in `.claude/settings.local.json`, keeping every other key.

    Idempotent. Refuses (ConfigError) to touch a file that is not valid JSON rather than overwrite it.
    Returns the file path.
    """
    try:
        parse_rule(rule)
    except RuleSyntaxError as exc:
        raise ConfigError(str(exc)) from exc
    path = local_settings_path(project_dir, home=home)
    data: dict[str, Any] = {}
    if os.path.exists(path):
        try:
            with open(path, encoding="utf-8") as fh:
                loaded = json.load(fh)
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigError(f"{path}: cannot add {rule!r}, the file is not valid JSON ({exc})") from exc
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path}: cannot add {rule!r}, the top level is not a JSON object")
        data = loaded
    permissions = data.setdefault("permissions", {})
    if not isinstance(permissions, dict):
        raise ConfigError(f"{path}: cannot add {rule!r}, 'permissions' is not an object")
    allow = permissions.setdefault("allow", [])
    if not isinstance(allow, list):
        raise ConfigError(f"{path}: cannot add {rule!r}, 'permissions.allow' is not a list")
    if rule in allow:
        return path
    allow.append(rule)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    # Write-then-rename so a crash never leaves a half-written settings file.
    fd, tmp = tempfile.mkstemp(prefix=".settings.local.", suffix=".json", dir=os.path.dirname(path))
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2)
            fh.write("\n")
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path
