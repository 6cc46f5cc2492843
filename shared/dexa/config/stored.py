"""Settings and memory files written through the API, kept in the Store as well as on disk, so every server sees
the same ones.

In the cloud each API Lambda container has its own DEXA_HOME on /tmp: a `.claude/settings.json` one container
wrote is absent from the next and lost when it is recycled. The Store (DynamoDB there, SQLite locally) is shared,
so a write lands in both, and before a settings file is read or changed the stored copy is written back over it
when it is newer than the file. Newest wins, so a file someone edited by hand after the API write is kept.

A workspace is named relative to the org's workspace root (every container resolves the same root under its own
home) and hashed, since a path can be longer than a store key may be.

Here, below the API and the runtime, so both the settings routes and a session's environment build (a step Lambda
with a fresh home) write back the same stored files.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import anyio

from dexa.core.errors import ConfigError
from dexa.core.ports import KeyValueStore

from .loader import read_json_file
from .locations import local_settings_dir
from .problems import SettingsProblem

NAMESPACE = "settings_permissions"
MEMORY = "memory_files"
# One document per org, rewritten by every save: a server that built a session's environment from the stored files
# (a warm step container) compares it to tell whether they changed since.
VERSION = "stored_settings_version"
SETTINGS_FILES = {"project": "settings.json", "local": "settings.local.json"}


def settings_path(cwd: str, home: str, scope: str) -> Path:
    root = local_settings_dir(cwd, home) if scope == "local" else cwd
    return Path(root) / ".claude" / SETTINGS_FILES[scope]


def write_json(path: Path, doc: Mapping[str, Any]) -> None:
    """Atomic replace, so a reader (a starting session) never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(doc, fh, indent=2)
            fh.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_permissions(path: Path, permissions: Mapping[str, Any]) -> None:
    """Replace the file's `permissions` object, keeping its other keys. A file that is not valid JSON is refused
    rather than overwritten (it may hold hand-written settings)."""
    problems: list[SettingsProblem] = []
    current = read_json_file(str(path), problems)
    if problems:
        raise ConfigError(f"{path}: {problems[0].message}; fix or remove the file first")
    doc = dict(current or {})
    doc["permissions"] = dict(permissions)
    try:
        write_json(path, doc)
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror or exc}") from exc


def write_text(path: Path, content: str) -> int:
    data = content.encode("utf-8")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror or exc}") from exc
    return len(data)


def location(workspace_root: Path, cwd: str, scope: str) -> str:
    """`scope:ws/<path within the org's workspace root>`, or the absolute path for a workspace outside it."""
    path = Path(cwd)
    if path == workspace_root or workspace_root in path.parents:
        return f"{scope}:ws/{path.relative_to(workspace_root).as_posix()}"
    return f"{scope}:{path.as_posix()}"


def _key(where: str) -> str:
    return hashlib.sha256(where.encode("utf-8")).hexdigest()[:40]


async def save(kv: KeyValueStore, org_id: str, where: str, path: Path, permissions: Mapping[str, Any]) -> None:
    """Record what was just written to `path`, stamped with the file's own mtime so this container's copy does not
    look older than the store's."""
    doc = {"location": where, "permissions": dict(permissions), "updated_at": _mtime(path) or time.time()}
    await kv.kv_put(NAMESPACE, _key(where), doc, org_id=org_id)
    await _touch(kv, org_id)


async def _touch(kv: KeyValueStore, org_id: str) -> None:
    await kv.kv_put(VERSION, "org", {"version": os.urandom(8).hex(), "at": time.time()}, org_id=org_id)


async def version(kv: KeyValueStore, org_id: str) -> str:
    """Changes whenever the org's stored settings or memory do ("" before the first save)."""
    doc = await kv.kv_get(VERSION, "org", org_id=org_id)
    return str(doc.get("version", "")) if doc else ""


def _mtime(path: Path) -> float | None:
    try:
        return path.stat().st_mtime
    except OSError:
        return None


async def restore(kv: KeyValueStore, org_id: str, where: str, path: Path) -> None:
    """Write the stored `permissions` into the file at `path` when the file is missing or older than the store's."""
    doc = await kv.kv_get(NAMESPACE, _key(where), org_id=org_id)
    if doc is None or doc.get("location") != where or not isinstance(doc.get("permissions"), dict):
        return
    mtime = await anyio.to_thread.run_sync(_mtime, path)
    if mtime is not None and mtime >= float(doc.get("updated_at") or 0):
        return
    await anyio.to_thread.run_sync(write_permissions, path, doc["permissions"])


def memory_location(workspace_root: Path, home: str, target: Path) -> str:
    """`home/<path within the org's home>` (its ~/.claude), `ws/<path within the workspace root>`, or absolute."""
    for tag, root in (("home", Path(home).resolve()), ("ws", workspace_root)):
        if root in target.parents:
            return f"{tag}/{target.relative_to(root).as_posix()}"
    return target.as_posix()


def _memory_target(workspace_root: Path, home: Path, where: str) -> Path | None:
    """Only files inside the org's own home or workspace root are restored: an absolute location is an operator's
    extra root on one machine, whose disk is its own record."""
    tag, _, rest = where.partition("/")
    root = {"home": home, "ws": workspace_root}.get(tag)
    if root is None or not rest or ".." in Path(rest).parts or Path(rest).is_absolute():
        return None
    target = root / rest
    return target if target.suffix.lower() == ".md" else None


async def save_memory(kv: KeyValueStore, org_id: str, where: str, path: Path, content: str) -> None:
    doc = {"location": where, "content": content, "updated_at": _mtime(path) or time.time()}
    await kv.kv_put(MEMORY, _key(where), doc, org_id=org_id)
    await _touch(kv, org_id)


def _write_if_newer(target: Path, content: str, updated_at: float) -> None:
    mtime = _mtime(target)
    if mtime is None or mtime < updated_at:
        write_text(target, content)


async def restore_memory(kv: KeyValueStore, org_id: str, workspace_root: Path, home: str) -> None:
    """Write every memory file the org saved through the API that is missing here or older than the store's."""
    home_dir = await anyio.to_thread.run_sync(Path(home).resolve)
    for doc in await kv.kv_list(MEMORY, org_id=org_id):
        where, content = doc.get("location"), doc.get("content")
        if not isinstance(where, str) or not isinstance(content, str):
            continue
        target = _memory_target(workspace_root, home_dir, where)
        if target is not None:
            await anyio.to_thread.run_sync(_write_if_newer, target, content, float(doc.get("updated_at") or 0))


async def restore_for_session(kv: KeyValueStore, org_id: str, workspace_root: Path, home: str, cwd: str) -> None:
    """Before a session reads its settings: write back the org's stored memory files and the project and local
    permission settings of its workspace, so a server with a fresh home (a step Lambda) applies what the API wrote.
    A settings file that is not valid JSON is left alone: the settings loader reports it to the session."""
    for scope in ("project", "local"):
        try:
            await restore(kv, org_id, location(workspace_root, cwd, scope), settings_path(cwd, home, scope))
        except ConfigError:
            continue
    await restore_memory(kv, org_id, workspace_root, home)
