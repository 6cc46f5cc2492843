"""HostDirWorkspace: file access to a host directory, for rewinding without starting a session's sandbox.

The CLI uses it when the session's environment cannot be built (no model credentials, say): restoring files needs
only reads, writes and deletes inside the session's directory. It runs no commands.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from pathlib import Path

import anyio

from dexa.core.errors import SandboxError
from dexa.core.ports import BackgroundJob, ExecResult


class HostDirWorkspace:
    def __init__(self, root: str) -> None:
        self.root = os.path.realpath(root)
        if not os.path.isdir(self.root):
            raise SandboxError(f"workspace {root!r} is not a directory")

    @property
    def extra_roots(self) -> tuple[str, ...]:
        return ()

    def _inside(self, path: str) -> str:
        real = os.path.realpath(path)
        if real != self.root and not real.startswith(self.root + os.sep):
            raise SandboxError(f"{path} is outside the workspace {self.root}")
        return real

    async def exec(
        self,
        command: str,
        *,
        cwd: str,
        timeout_s: float = 120.0,
        env: Mapping[str, str] | None = None,
        job_id: str | None = None,
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
        return await anyio.to_thread.run_sync(Path(self._inside(path)).read_bytes)

    async def write_bytes(self, path: str, data: bytes) -> None:
        real = Path(self._inside(path))

        def write() -> None:
            real.parent.mkdir(parents=True, exist_ok=True)
            real.write_bytes(data)

        await anyio.to_thread.run_sync(write)

    async def exists(self, path: str) -> bool:
        return await anyio.to_thread.run_sync(os.path.exists, self._inside(path))

    async def is_dir(self, path: str) -> bool:
        return await anyio.to_thread.run_sync(os.path.isdir, self._inside(path))

    async def remove(self, path: str) -> None:
        real = self._inside(path)
        if real == self.root:
            raise SandboxError("refusing to remove the workspace root")

        def remove() -> None:
            if os.path.isdir(real):
                shutil.rmtree(real)
            else:
                Path(real).unlink(missing_ok=True)

        await anyio.to_thread.run_sync(remove)

    async def walk(self, root: str) -> list[str]:
        base = Path(self._inside(root))

        def walk() -> list[str]:
            return [str(p) for p in base.rglob("*") if p.is_file() and not p.is_symlink()]

        return await anyio.to_thread.run_sync(walk)

    async def close(self) -> None:
        return None
