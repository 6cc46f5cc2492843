"""Host-side file operations confined to the workspace roots, raced symlink swaps included (via dexa.core.safefs)."""

from __future__ import annotations

import asyncio
import os
import stat as stat_mod

from dexa.core.safefs import SafeFS, check_path

# What read_bytes returns at most when the caller names no limit: every caller's memory stays bounded, even one that
# reads whatever file a model names (the file tools ask for less through read_bytes_capped).
DEFAULT_READ_LIMIT = 64 << 20


class WorkspaceFiles:
    """File operations on the host that never leave the roots, even while a sandboxed process swaps links around.

    Every path is walked from a root's fd with no-follow opens (dexa.core.safefs); links inside the roots are followed
    the way Claude Code's file tools follow them, links out are refused. Missing files raise FileNotFoundError (callers
    turn OSError into messages); paths outside the roots, NUL bytes, FIFOs, devices and oversized files raise
    SandboxError with the reason.
    """

    def __init__(self, root: str, extra_roots: tuple[str, ...]) -> None:
        self.root = root
        self._extra_roots = extra_roots
        self._fs = SafeFS((root, *extra_roots))

    @property
    def roots(self) -> tuple[str, ...]:
        return (self.root, *self._extra_roots)

    def contains(self, path: str) -> bool:
        """Is `path` (already resolved) one of the roots or inside one?"""
        for root in self.roots:
            if path == root or path.startswith(root.rstrip(os.sep) + os.sep):
                return True
        return False

    def resolve(self, path: str) -> str:
        """`path` checked (absolute, valid, lexically inside a root) and normalised; SandboxError otherwise."""
        self._fs.locate(check_path(path))
        return check_path(path)

    def _exists(self, path: str) -> bool:
        try:
            self._fs.stat(path)
        except (FileNotFoundError, NotADirectoryError):
            return False
        return True

    def _is_dir(self, path: str) -> bool:
        try:
            return stat_mod.S_ISDIR(self._fs.stat(path).st_mode)
        except (FileNotFoundError, NotADirectoryError):
            return False

    async def read_bytes(self, path: str) -> bytes:
        return await asyncio.to_thread(self._fs.read, path, limit=DEFAULT_READ_LIMIT)

    async def read_bytes_capped(self, path: str, limit: int) -> bytes:
        """At most `limit` bytes; SandboxError(code="file_too_large") for a larger file, read no further."""
        return await asyncio.to_thread(self._fs.read, path, limit=limit)

    async def write_bytes(self, path: str, data: bytes) -> None:
        await asyncio.to_thread(self._fs.write, path, data)

    # A stat is microseconds: a thread hop would cost more than it saves (and these are on the Bash hot path).
    async def exists(self, path: str) -> bool:
        return self._exists(path)

    async def is_dir(self, path: str) -> bool:
        return self._is_dir(path)

    async def remove(self, path: str) -> None:
        await asyncio.to_thread(self._fs.remove, path)

    async def walk(self, root: str) -> list[str]:
        """Every regular file under root (symlinks only when they stay inside), absolute, unsorted."""
        return await asyncio.to_thread(self._fs.walk, root)

    async def mtime(self, path: str) -> float:
        """Modification time (an extension beyond the Workspace port; tools use it when present)."""
        return self._fs.stat(path).st_mtime
