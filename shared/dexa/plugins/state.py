"""Plugin state on disk, in Claude Code's places: `~/.claude/plugins/{known_marketplaces,installed_plugins}.json`,
the `cache/` of installed copies, per-plugin `data/`, and `enabledPlugins` in the settings file of a scope."""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from dexa.core.errors import ConfigError

Scope = Literal["user", "project", "local"]
SCOPES: tuple[Scope, ...] = ("user", "project", "local")


def plugin_id(name: str, marketplace: str) -> str:
    return f"{name}@{marketplace}"


def split_id(value: str) -> tuple[str, str | None]:
    name, sep, market = value.partition("@")
    return name, (market if sep else None)


def data_dir_name(pid: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "-", pid)


def read_doc(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: invalid JSON: {exc.msg} (line {exc.lineno})") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a JSON object")
    return data  # pyright: ignore[reportUnknownVariableType]


def write_doc(path: Path, data: Mapping[str, Any]) -> None:
    """Atomic write: a crash never leaves a half-written settings or state file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name, dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2)
        fh.write("\n")
    os.replace(tmp, path)


def settings_path(scope: Scope, *, home: Path, cwd: Path) -> Path:
    if scope == "user":
        return home / ".claude" / "settings.json"
    if scope == "project":
        return cwd / ".claude" / "settings.json"
    return cwd / ".claude" / "settings.local.json"


def set_enabled(pid: str, enabled: bool | None, *, scope: Scope, home: Path, cwd: Path) -> Path:
    """Write `enabledPlugins[pid]` (None removes it) in that scope's settings file, keeping every other key."""
    path = settings_path(scope, home=home, cwd=cwd)
    doc = read_doc(path)
    plugins = doc.get("enabledPlugins")
    plugins = dict(plugins) if isinstance(plugins, dict) else {}  # pyright: ignore[reportUnknownArgumentType]
    if enabled is None:
        plugins.pop(pid, None)
    else:
        plugins[pid] = enabled
    doc["enabledPlugins"] = plugins
    write_doc(path, doc)
    return path


def extra_known_marketplaces(*, home: Path, cwd: Path) -> dict[str, dict[str, Any]]:
    """`extraKnownMarketplaces` (alias `additionalMarketplaces`) by name; a higher layer's entry is taken whole."""
    found: dict[str, dict[str, Any]] = {}
    for scope in SCOPES:
        try:
            doc = read_doc(settings_path(scope, home=home, cwd=cwd))
        except ConfigError:
            continue
        for key in ("additionalMarketplaces", "extraKnownMarketplaces"):
            for name, entry in (doc.get(key) or {}).items():
                if isinstance(entry, dict) and isinstance(entry.get("source"), dict):
                    found[str(name)] = dict(entry["source"])
    return found


def enabled_plugins(
    *, home: Path, cwd: Path, managed: Mapping[str, Any] | None = None, scopes: Sequence[Scope] = SCOPES
) -> dict[str, bool]:
    """`enabledPlugins` merged per key: managed (a managed `false` always wins) > local > project > user."""
    merged: dict[str, bool] = {}
    for scope in SCOPES:  # lowest first; later layers override
        if scope not in scopes:
            continue
        try:
            doc = read_doc(settings_path(scope, home=home, cwd=cwd))
        except ConfigError:
            continue  # the settings loader reports broken settings files
        for pid, value in (doc.get("enabledPlugins") or {}).items():
            if isinstance(value, bool):
                merged[str(pid)] = value
    for pid, value in ((managed or {}).get("enabledPlugins") or {}).items():
        if isinstance(value, bool):
            merged[str(pid)] = value
    return merged
