"""Workspace configuration on disk: which cwd a caller may touch, its settings files, memory files and extensions.

A cwd is usable when it lies inside one of the caller's org's workspace roots (dexa.auth.orgpaths) or is the cwd
of one of the org's sessions (a local `dexa run` session, say); anything else answers 404 like another org's
resource, so a key cannot read or write arbitrary folders.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import anyio

from dexa.auth.models import Principal
from dexa.config.loader import load_settings, read_json_file
from dexa.config.settings import SettingsProblem
from dexa.core.errors import ConfigError, DexaError, NotFoundError

from .deps import ApiContext


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def _resolve(ctx: ApiContext, org_id: str, cwd: str | None) -> tuple[Path, bool, bool]:
    """(resolved path, inside the org's workspace roots, is a directory)."""
    roots = ctx.paths.roots(org_id)
    path = (roots[0] / cwd if cwd else roots[0]).resolve()  # an absolute cwd replaces the base
    return path, any(_inside(path, r) for r in roots), path.is_dir()


async def workspace(ctx: ApiContext, who: Principal, cwd: str | None) -> str:
    """The caller's workspace directory, resolved; NotFoundError when it is not one of the org's."""
    missing = NotFoundError(f"no workspace {cwd!r} in this org (use the org's workspace root or a session's cwd)")
    try:
        path, inside, is_dir = await anyio.to_thread.run_sync(_resolve, ctx, who.org_id, cwd)
    except (OSError, ValueError, RuntimeError) as exc:  # too long, NUL byte, unreadable, symlink loop
        raise missing from exc
    known = inside or bool(await ctx.runtime.store.list_sessions(org_id=who.org_id, limit=1, cwd=str(path)))
    if not known or not is_dir:
        raise missing
    return str(path)


def confine_root(ctx: ApiContext, who: Principal, cwd: str) -> str | None:
    """For an org with its own scope: the workspace root memory loading stops at and is confined to (the root
    holding cwd, else cwd itself). None for the local owner, whose memory loads exactly as Claude Code's does."""
    if not ctx.paths.is_scoped(who.org_id):
        return None
    path = Path(cwd)
    return str(next((r for r in ctx.paths.roots(who.org_id) if _inside(path, r)), path))


def read_settings_file(path: Path) -> tuple[dict[str, Any] | None, list[SettingsProblem]]:
    problems: list[SettingsProblem] = []
    return read_json_file(str(path), problems), problems


def effective(cwd: str, home: str) -> tuple[Any, list[SettingsProblem]]:
    return load_settings(cwd, home=home, managed_path=None, env={})


def validate_permissions(cwd: str, home: str, permissions: Mapping[str, Any]) -> None:
    """Run the document through Claude Code's settings loader; any problem it reports is a 422 naming the key."""
    text = json.dumps({"permissions": dict(permissions)})
    _, problems = load_settings(cwd, home=home, cli={"settings": text}, managed_path=None, env={}, setting_sources=())
    mine = [p for p in problems if p.file == "cli:--settings"]
    if mine:
        detail = "; ".join(f"{p.key or 'permissions'}: {p.message}" for p in mine[:5])
        raise DexaError(f"invalid permissions: {detail}", code="validation_error")


def editable_memory(cwd: str, home: str, path: str) -> Path:
    """The memory file `path` names, if it is a Markdown file within the workspace or ~/.claude."""
    roots = (Path(cwd).resolve(), (Path(home) / ".claude").resolve())
    refused = ConfigError(f"path {path[:200]!r}: memory files must be .md files within {roots[0]} or {roots[1]}")
    try:
        target = (Path(cwd) / path).resolve()  # an absolute path replaces cwd
    except (OSError, ValueError) as exc:
        raise refused from exc
    if target.suffix.lower() != ".md" or not any(_inside(target, r) for r in roots):
        raise refused
    return target


def is_editable(cwd: str, home: str, path: str) -> bool:
    try:
        editable_memory(cwd, home, path)
    except ConfigError:
        return False
    return True
