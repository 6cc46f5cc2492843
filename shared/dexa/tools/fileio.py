"""Text-file helpers shared by the file tools: paths, decoding, `cat -n` numbering, read-before-write."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from dexa.core.errors import SandboxError, ToolError
from dexa.core.ports import Workspace
from dexa.core.tools import ToolContext

MAX_LINE_CHARS = 2000
# The most a file tool reads into memory at once: a larger (or sparse, or endless) file is refused, never loaded.
MAX_TEXT_FILE_BYTES = 10 << 20
NOT_READ = "File has not been read yet. Read it first before writing to it."
MODIFIED = (
    "File has been modified since read, either by the user or by a linter. Read it again before attempting to write it."
)


@runtime_checkable
class StatWorkspace(Protocol):
    """Workspaces that can report modification times (LocalSandbox does; the port does not require it)."""

    async def mtime(self, path: str) -> float: ...


@runtime_checkable
class CappedWorkspace(Protocol):
    """Workspaces that stop reading at a limit (LocalSandbox does): a huge file is refused before it is loaded."""

    async def read_bytes_capped(self, path: str, limit: int) -> bytes: ...


def require_absolute(path: str, cwd: str, field: str = "file_path") -> str:
    if not path:
        raise ToolError(f"`{field}` must not be empty")
    if "\x00" in path:
        raise ToolError(f"`{field}` is not a valid path: {path!r} contains a NUL byte")
    if not os.path.isabs(path):
        suggestion = os.path.normpath(os.path.join(cwd, path))
        raise ToolError(f"`{field}` must be an absolute path, got {path!r}. Did you mean {suggestion}?")
    return os.path.normpath(path)


async def file_mtime(ws: Workspace, path: str) -> float | None:
    if isinstance(ws, StatWorkspace):
        return await ws.mtime(path)
    return None


async def read_capped(ws: Workspace, path: str, limit: int = MAX_TEXT_FILE_BYTES) -> bytes:
    """At most `limit` bytes of the file; ToolError (naming a way forward) when it is larger."""
    try:
        if isinstance(ws, CappedWorkspace):
            return await ws.read_bytes_capped(path, limit)
        data = await ws.read_bytes(path)
    except SandboxError as exc:
        if exc.code != "file_too_large":
            raise
        raise ToolError(
            f"{exc.message}. File tools read at most {limit >> 20} MiB; read parts of it through Bash "
            f"(e.g. `sed -n '1000,1200p' {path}` or `tail -n 200 {path}`) or search it with Grep."
        ) from None
    if len(data) > limit:
        raise ToolError(f"{path} is too large ({len(data):,} bytes; file tools read at most {limit >> 20} MiB)")
    return data


async def read_text(ws: Workspace, path: str) -> str:
    """The file as text. Raises ToolError for directories, missing, binary and oversized files."""
    if not await ws.exists(path):
        raise ToolError(f"File does not exist: {path}")
    if await ws.is_dir(path):
        raise ToolError(f"EISDIR: {path} is a directory, not a file. Use Glob or `ls` in Bash to list it.")
    data = await read_capped(ws, path)
    if b"\x00" in data[:8192]:
        raise ToolError(f"{path} is a binary file ({len(data)} bytes) and cannot be shown as text.")
    return data.decode("utf-8", errors="replace")


def number_lines(lines: Sequence[str], start: int) -> str:
    """`cat -n` style: right-aligned line number, a tab, the line (very long lines cut)."""
    out: list[str] = []
    for i, line in enumerate(lines, start=start):
        if len(line) > MAX_LINE_CHARS:
            line = line[:MAX_LINE_CHARS] + f"... [line truncated, {len(line)} chars]"
        out.append(f"{i:>6}\t{line}")
    return "\n".join(out)


async def record_read(ctx: ToolContext, path: str) -> None:
    mtime = await file_mtime(ctx.workspace, path)
    ctx.state.read_files[path] = mtime if mtime is not None else time.time()


async def check_fresh(ctx: ToolContext, path: str) -> None:
    """Claude Code's rule: an existing file must have been Read, and not changed since, before it is replaced."""
    seen = ctx.state.read_files.get(path)
    if seen is None:
        raise ToolError(NOT_READ)
    mtime = await file_mtime(ctx.workspace, path)
    if mtime is not None and mtime > seen + 1e-6:
        raise ToolError(MODIFIED)


def excerpt(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[:limit] + f"... [{len(text) - limit} more chars]"


def snippet(content: str, around: int, *, context: int = 4, span: int = 1) -> str:
    """Numbered lines around a 0-based line index, to show the model the result of an edit."""
    lines = content.split("\n")
    first = max(0, around - context)
    last = min(len(lines), around + span + context)
    return number_lines(lines[first:last], first + 1)
