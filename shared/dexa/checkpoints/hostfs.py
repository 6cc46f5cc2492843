"""HostDirWorkspace: file access to a host directory, for rewinding without starting a session's sandbox.

The CLI uses it when the session's environment cannot be built (no model credentials, say): restoring files needs
only reads, writes and deletes inside the session's directory. It runs no commands. Every operation goes through
dexa.core.safefs, so a leftover sandbox process swapping directories for symlinks cannot redirect it.
"""

from __future__ import annotations

import os
import stat as stat_mod
from collections.abc import Mapping
from functools import partial

import anyio

from dexa.core.errors import SandboxError
from dexa.core.ports import BackgroundJob, ExecResult
from dexa.core.safefs import SafeFS

READ_LIMIT = 64 << 20  # checkpoints capture files far smaller than this; anything larger is refused, never loaded


class HostDirWorkspace:
    def __init__(self, root: str) -> None:
        self.root = os.path.realpath(root)
        if not os.path.isdir(self.root):
            raise SandboxError(f"workspace {root!r} is not a directory")
        self._fs = SafeFS((self.root,))

    @property
    def extra_roots(self) -> tuple[str, ...]:
        return ()

    async def exec(
        self,
        command: str,
        *,
        cwd: str,
        timeout_s: float = 120.0,
        env: Mapping[str, str] | None = None,
        job_id: str | None = None,
        stdin: bytes | None = None,
    ) -> ExecResult:
        raise SandboxError("this workspace only restores files; it cannot run commands")

    async def recover(self, job_id: str, *, wait_s: float = 600.0) -> ExecResult | None:
        return None

    async def start_background(self, command: str, *, cwd: str, job_id: str) -> BackgroundJob:
        raise SandboxError("this workspace only restores files; it cannot run commands")

    async def poll_background(self, job_id: str, *, since: int = 0, wait_s: float = 0.0) -> BackgroundJob:
        raise SandboxError(f"no background job {job_id}")

    async def kill_background(self, job_id: str) -> BackgroundJob:
        raise SandboxError(f"no background job {job_id}")

    async def read_bytes(self, path: str) -> bytes:
        return await anyio.to_thread.run_sync(partial(self._fs.read, path, limit=READ_LIMIT))

    async def read_bytes_capped(self, path: str, limit: int) -> bytes:
        return await anyio.to_thread.run_sync(partial(self._fs.read, path, limit=limit))

    async def write_bytes(self, path: str, data: bytes) -> None:
        await anyio.to_thread.run_sync(self._fs.write, path, data)

    async def exists(self, path: str) -> bool:
        try:
            await anyio.to_thread.run_sync(self._fs.stat, path)
        except (FileNotFoundError, NotADirectoryError):
            return False
        return True

    async def is_dir(self, path: str) -> bool:
        try:
            return stat_mod.S_ISDIR((await anyio.to_thread.run_sync(self._fs.stat, path)).st_mode)
        except (FileNotFoundError, NotADirectoryError):
            return False

    async def remove(self, path: str) -> None:
        try:
            await anyio.to_thread.run_sync(self._fs.remove, path)
        except FileNotFoundError:
            return

    async def walk(self, root: str) -> list[str]:
        # No links at all, not even inside ones: a rewind works on the files themselves.
        return await anyio.to_thread.run_sync(partial(self._fs.walk, root, follow=False))

    async def close(self) -> None:
        return None
