"""A session's workspace as a rich client sees it: one directory's entries (gitignore respected) and one text file.

Every path a client names is relative to the session's working directory (an absolute one must lie inside it) and is
confined there: on this host the walk is dexa.core.safefs's (no-follow, directory-fd-relative), so `..`, absolute
paths elsewhere and symlinks leading out are refused however they are spelled, also while a sandboxed process swaps
links around. A session whose workspace lives elsewhere (a Modal sandbox) is read through its Workspace port, which
confines the same way on its side.
"""

from __future__ import annotations

import errno
import os
import stat as stat_mod
from dataclasses import dataclass
from typing import Any, Literal

import anyio
import pathspec

from dexa.core.errors import ConfigError, NotFoundError, PermissionDeniedError, SandboxError
from dexa.core.ports import Workspace
from dexa.core.safefs import SafeFS

EntryType = Literal["file", "directory", "symlink", "other"]

MAX_ENTRIES = 5000
MAX_GITIGNORE_BYTES = 1 << 20
DEFAULT_READ_BYTES = 1 << 20
MAX_READ_BYTES = 10 << 20
_SNIFF = 8192
_LIST = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


@dataclass(frozen=True, slots=True, kw_only=True)
class Entry:
    name: str
    path: str  # relative to the session's cwd, "/"-separated
    type: EntryType
    size: int | None
    ignored: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class TextFile:
    path: str
    content: str
    size: int


def confine(cwd: str, path: str | None) -> str:
    """The absolute path `path` names under cwd (lexically); PermissionDeniedError when it climbs out of cwd."""
    if path is None or path in ("", "."):
        return cwd
    if "\x00" in path:
        raise ConfigError(f"path {path[:200]!r}: contains a NUL byte", code="invalid_path")
    joined = os.path.normpath(path if path.startswith("/") else os.path.join(cwd, path))
    if joined != cwd and not joined.startswith(cwd.rstrip("/") + "/"):
        raise outside(path)
    return joined


def relative(cwd: str, path: str) -> str:
    rel = os.path.relpath(path, cwd)
    return "" if rel == "." else rel


def outside(path: str) -> PermissionDeniedError:
    return PermissionDeniedError(
        f"path {path[:200]!r} is outside the session's workspace; name a path inside it", code="outside_workspace"
    )


def translate(path: str, exc: BaseException) -> Exception:
    """An OSError or a safefs refusal as the API error that names the cause."""
    if isinstance(exc, SandboxError):
        if exc.code in ("outside_workspace", "symlink"):
            return PermissionDeniedError(
                f"path {path[:200]!r} leads outside the session's workspace (through a symlink); refused",
                code="outside_workspace",
            )
        if exc.code == "file_too_large":
            return ConfigError(str(exc), code="file_too_large")
        if exc.code == "not_regular_file":
            return ConfigError(f"path {path[:200]!r} is not a regular file ({exc})", code="not_a_file")
        return ConfigError(f"path {path[:200]!r}: {exc}", code="invalid_path")
    if isinstance(exc, FileNotFoundError | NotADirectoryError):
        return NotFoundError(f"no file or directory {path[:200]!r} in the session's workspace")
    if isinstance(exc, IsADirectoryError):
        return ConfigError(f"path {path[:200]!r} is a directory; list it with GET .../files", code="is_a_directory")
    if isinstance(exc, OSError) and exc.errno == errno.ENAMETOOLONG:
        return ConfigError(f"path {path[:200]!r} is too long", code="invalid_path")
    return ConfigError(f"path {path[:200]!r} cannot be read: {exc}", code="unreadable")


def _type(st: os.stat_result) -> EntryType:
    if stat_mod.S_ISDIR(st.st_mode):
        return "directory"
    if stat_mod.S_ISREG(st.st_mode):
        return "file"
    if stat_mod.S_ISLNK(st.st_mode):
        return "symlink"
    return "other"


class _Ignores:
    """The .gitignore of each directory from cwd down to the listed one, applied relative to its own directory."""

    def __init__(self) -> None:
        self._specs: list[tuple[str, pathspec.GitIgnoreSpec]] = []

    def add(self, directory: str, text: str) -> None:
        self._specs.append((directory, pathspec.GitIgnoreSpec.from_lines(text.splitlines())))

    def ignored(self, path: str, *, is_dir: bool) -> bool:
        if os.path.basename(path) == ".git":
            return True
        for directory, spec in self._specs:
            rel = os.path.relpath(path, directory)
            if spec.match_file(rel + "/" if is_dir else rel):
                return True
        return False


def _host_ignores(fs: SafeFS, cwd: str, directory: str) -> _Ignores:
    rules = _Ignores()
    here = cwd
    steps = [p for p in relative(cwd, directory).split("/") if p]
    for i in range(len(steps) + 1):
        here = os.path.join(cwd, *steps[:i])
        try:
            text = fs.read(os.path.join(here, ".gitignore"), limit=MAX_GITIGNORE_BYTES).decode(errors="replace")
        except (OSError, SandboxError):
            continue
        rules.add(here, text)
    return rules


def list_host(cwd: str, path: str | None, *, include_ignored: bool) -> tuple[str, list[Entry], bool]:
    """(the directory, its entries sorted directories first, truncated?) read on this host under SafeFS."""
    fs = SafeFS((cwd,))
    target = confine(cwd, path)

    def op(fd: int, name: str, full: str) -> tuple[str, list[tuple[str, os.stat_result]]]:
        handle = os.open(name, _LIST, dir_fd=fd)
        try:
            with os.scandir(handle) as it:
                return full, [(e.name, e.stat(follow_symlinks=False)) for e in it]
        finally:
            os.close(handle)

    try:
        directory, raw = fs.at(target, op, follow=True)
    except (OSError, SandboxError) as exc:
        raise translate(path or ".", exc) from exc
    rules = _host_ignores(fs, cwd, directory)
    entries: list[Entry] = []
    for name, st in raw:
        kind = _type(st)
        full = os.path.join(directory, name)
        ignored = rules.ignored(full, is_dir=kind == "directory")
        if ignored and not include_ignored:
            continue
        size = st.st_size if kind == "file" else None
        entries.append(Entry(name=name, path=relative(cwd, full), type=kind, size=size, ignored=ignored))
    entries.sort(key=lambda e: (e.type != "directory", e.name))
    return directory, entries[:MAX_ENTRIES], len(entries) > MAX_ENTRIES


def _children(
    cwd: str, directory: str, files: list[str], rules: _Ignores, *, include_ignored: bool
) -> dict[str, Entry]:
    seen: dict[str, Entry] = {}
    for f in files:
        first = os.path.relpath(f, directory).split("/", 1)
        is_dir = len(first) > 1
        full = os.path.join(directory, first[0])
        if first[0] in seen:
            continue
        ignored = rules.ignored(full, is_dir=is_dir)
        if ignored and not include_ignored:
            continue
        kind: EntryType = "directory" if is_dir else "file"
        seen[first[0]] = Entry(name=first[0], path=relative(cwd, full), type=kind, size=None, ignored=ignored)
    return seen


async def list_remote(
    ws: Workspace, cwd: str, path: str | None, *, include_ignored: bool
) -> tuple[str, list[Entry], bool]:
    """The same listing through the Workspace port (files by walk; a directory is a prefix of some file)."""
    directory = confine(cwd, path)
    try:
        if not await ws.is_dir(directory):
            raise NotFoundError(f"no directory {path!r} in the session's workspace")
        files = await ws.walk(directory)
    except (OSError, SandboxError) as exc:
        raise translate(path or ".", exc) from exc
    rules = _Ignores()
    for gi in [f for f in files if f.endswith("/.gitignore") and os.path.dirname(f) == directory]:
        try:
            rules.add(directory, (await ws.read_bytes(gi))[:MAX_GITIGNORE_BYTES].decode(errors="replace"))
        except (OSError, SandboxError):
            continue
    seen = _children(cwd, directory, files, rules, include_ignored=include_ignored)
    entries = sorted(seen.values(), key=lambda e: (e.type != "directory", e.name))
    return directory, entries[:MAX_ENTRIES], len(entries) > MAX_ENTRIES


def decode_text(path: str, data: bytes) -> str:
    """UTF-8 text, or ConfigError(binary_file) for a file with NUL bytes or invalid UTF-8."""
    if b"\x00" in data[:_SNIFF]:
        raise ConfigError(f"{path[:200]!r} is a binary file; only text files can be read here", code="binary_file")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path[:200]!r} is not UTF-8 text (byte {exc.start}); only text files can be read here",
            code="binary_file",
        ) from exc


def read_host(cwd: str, path: str, *, max_bytes: int) -> TextFile:
    target = confine(cwd, path)
    try:
        data = SafeFS((cwd,)).read(target, limit=max_bytes)
    except SandboxError as exc:
        if exc.code == "file_too_large":
            raise ConfigError(
                f"{path[:200]!r} is larger than max_bytes={max_bytes}; ask for more (at most {MAX_READ_BYTES})",
                code="file_too_large",
            ) from exc
        raise translate(path, exc) from exc
    except OSError as exc:
        raise translate(path, exc) from exc
    return TextFile(path=relative(cwd, target), content=decode_text(path, data), size=len(data))


async def read_remote(ws: Workspace, cwd: str, path: str, *, max_bytes: int) -> TextFile:
    target = confine(cwd, path)
    capped: Any = getattr(ws, "read_bytes_capped", None)
    try:
        data = await capped(target, max_bytes) if capped is not None else await ws.read_bytes(target)
    except (OSError, SandboxError) as exc:
        raise translate(path, exc) from exc
    if len(data) > max_bytes:
        raise ConfigError(f"{path[:200]!r} is larger than max_bytes={max_bytes}", code="file_too_large")
    return TextFile(path=relative(cwd, target), content=decode_text(path, data), size=len(data))


async def list_dir(
    ws: Workspace | None, cwd: str, path: str | None, *, include_ignored: bool
) -> tuple[str, list[Entry], bool]:
    """ws None: the workspace is on this host."""
    if ws is None:
        return await anyio.to_thread.run_sync(lambda: list_host(cwd, path, include_ignored=include_ignored))
    return await list_remote(ws, cwd, path, include_ignored=include_ignored)


async def read_text(ws: Workspace | None, cwd: str, path: str, *, max_bytes: int) -> TextFile:
    if ws is None:
        return await anyio.to_thread.run_sync(lambda: read_host(cwd, path, max_bytes=max_bytes))
    return await read_remote(ws, cwd, path, max_bytes=max_bytes)


def check_inside(cwd: str, path: str | None) -> str:
    """The absolute path, after following any in-workspace symlinks on this host; refused when one leads out."""
    target = confine(cwd, path)
    try:
        SafeFS((cwd,)).stat(target)
    except (OSError, SandboxError) as exc:
        raise translate(path or ".", exc) from exc
    return target
