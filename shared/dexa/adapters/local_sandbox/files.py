"""Host-side file operations confined to the workspace roots (symlink escapes included)."""

from __future__ import annotations

import asyncio
import os
import shutil

from dexa.core.errors import SandboxError


class WorkspaceFiles:
    """Every path is resolved with realpath and must land inside a root.

    After opening, the descriptor's real path is checked again (/proc/self/fd), so a symlink swapped in between
    the check and the open is caught too. Missing files raise FileNotFoundError (callers turn OSError into
    messages); paths outside the roots raise SandboxError.
    """

    def __init__(self, root: str, extra_roots: tuple[str, ...]) -> None:
        self.root = root
        self._extra_roots = extra_roots

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
        """The real path of `path`, or SandboxError when it is relative or escapes the workspace."""
        if not isinstance(path, str) or not path:
            raise SandboxError("A path is required")
        if "\x00" in path:
            raise SandboxError(f"Invalid path {path!r}")
        if not os.path.isabs(path):
            raise SandboxError(f"Path must be absolute, got {path!r} (the workspace is {self.root})")
        real = os.path.realpath(path)
        if not self.contains(real):
            via = "" if real == os.path.normpath(path) else f" (it resolves to {real} through a symlink)"
            raise SandboxError(
                f"Access denied: {path} is outside the workspace{via}; allowed roots: {list(self.roots)}"
            )
        return real

    def _verify_fd(self, fd: int, path: str) -> None:
        real = os.readlink(f"/proc/self/fd/{fd}")
        if not self.contains(real):
            os.close(fd)
            raise SandboxError(f"Access denied: {path} changed to point outside the workspace")

    def _read(self, path: str) -> bytes:
        real = self.resolve(path)
        fd = os.open(real, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        self._verify_fd(fd, path)
        with os.fdopen(fd, "rb") as fh:
            return fh.read()

    def _write(self, path: str, data: bytes) -> None:
        real = self.resolve(path)
        parent = os.path.dirname(real)
        if not os.path.isdir(parent):
            os.makedirs(parent, exist_ok=True)
        # No O_TRUNC before the check: an escaped target must not be clobbered, only refused.
        fd = os.open(real, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        self._verify_fd(fd, path)
        with os.fdopen(fd, "wb") as fh:
            fh.truncate(0)
            fh.write(data)

    def _remove(self, path: str) -> None:
        real = self.resolve(path)
        if real in self.roots:
            raise SandboxError(f"Refusing to remove the workspace root {path}")
        if os.path.isdir(real) and not os.path.islink(real):
            shutil.rmtree(real)
        else:
            os.unlink(real)

    def _walk(self, root: str) -> list[str]:
        real_root = self.resolve(root)
        found: list[str] = []
        for dirpath, _dirs, files in os.walk(real_root, followlinks=False):
            for name in files:
                full = os.path.join(dirpath, name)
                if os.path.islink(full):
                    target = os.path.realpath(full)
                    if not (self.contains(target) and os.path.isfile(target)):
                        continue
                elif not os.path.isfile(full):
                    continue
                found.append(full)
        return found

    def _mtime(self, path: str) -> float:
        return os.stat(self.resolve(path)).st_mtime

    async def read_bytes(self, path: str) -> bytes:
        return await asyncio.to_thread(self._read, path)

    async def write_bytes(self, path: str, data: bytes) -> None:
        await asyncio.to_thread(self._write, path, data)

    def _exists(self, path: str) -> bool:
        return os.path.exists(self.resolve(path))

    def _is_dir(self, path: str) -> bool:
        return os.path.isdir(self.resolve(path))

    # A stat is microseconds: a thread hop would cost more than it saves (and these are on the Bash hot path).
    async def exists(self, path: str) -> bool:
        return self._exists(path)

    async def is_dir(self, path: str) -> bool:
        return self._is_dir(path)

    async def remove(self, path: str) -> None:
        await asyncio.to_thread(self._remove, path)

    async def walk(self, root: str) -> list[str]:
        """Every regular file under root (symlinks only when they stay inside), absolute, unsorted."""
        return await asyncio.to_thread(self._walk, root)

    async def mtime(self, path: str) -> float:
        """Modification time (an extension beyond the Workspace port; tools use it when present)."""
        return self._mtime(path)
