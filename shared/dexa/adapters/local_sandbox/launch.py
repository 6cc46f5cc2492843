"""Launching, waiting for and killing sandboxed processes (one spawn per command: bwrap -> bash)."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from dexa.core.errors import SandboxError

from . import bwrap
from .journal import kill_group, kill_marked

Process = asyncio.subprocess.Process

# A runaway `yes` must not fill RAM (memfds) or the disk: past this much output the command is killed.
MAX_OUTPUT_BYTES = 64 << 20
_WATCH_INTERVAL_S = 0.25


def exit_status(returncode: int | None) -> int:
    """A shell-style status: 128 + signal number for a process killed by a signal."""
    if returncode is None:
        return -1
    return 128 - returncode if returncode < 0 else returncode


class Launcher:
    """Builds the command line for one command and owns the processes it started."""

    def __init__(self, *, roots: Sequence[str], home: str, network: bool, unsandboxed: bool, etc_cache: str) -> None:
        self.roots = tuple(roots)
        self.home = home
        self.network = network
        self.unsandboxed = unsandboxed
        self._etc_cache = etc_cache
        self._etc_dir: str | None = None
        self.live: dict[int, tuple[Process, str]] = {}

    def check_ready(self) -> None:
        """Raises SandboxError (with the install hint) when bwrap is unusable and unsandboxed mode is off."""
        if self.unsandboxed:
            return
        reason = bwrap.probe_bwrap()
        if reason is not None:
            raise SandboxError(bwrap.INSTALL_HINT.format(reason=reason))
        if self._etc_dir is None:
            self._etc_dir = bwrap.prepare_etc(self._etc_cache, network=self.network)

    def _argv(
        self, command: str, cwd: str, env: Mapping[str, str], marker: str, fds: tuple[int, int | None], detached: bool
    ) -> tuple[list[str], str]:
        inner = bwrap.shell_argv(command, cwd_fd=fds[0], exit_fd=fds[1])
        if self.unsandboxed:
            return inner, cwd
        argv = bwrap.bwrap_argv(
            bwrap.find_bwrap() or "bwrap",
            roots=self.roots,
            cwd=cwd,
            env=env,
            network=self.network,
            etc_dir=self._etc_dir or "/nonexistent",
            hostname=marker,
            die_with_parent=not detached,
            command=inner,
        )
        return argv, "/"

    async def launch(
        self,
        command: str,
        *,
        cwd: str,
        env: Mapping[str, str] | None,
        marker: str,
        stdout: int,
        stderr: int,
        cwd_fd: int,
        exit_fd: int | None = None,
        detached: bool = False,
        stdin: int | None = None,
    ) -> Process:
        """Start `command`. Detached processes outlive Dexa (journaled and background jobs); the others die
        with it. Either way the process leads its own group, so killpg reaches everything outside bwrap's
        own session, and a Ctrl-C in Dexa's terminal does not hit it."""
        self.check_ready()
        clean_env = bwrap.sandbox_env(self.home, env)
        pass_fds = (cwd_fd,) if exit_fd is None else (cwd_fd, exit_fd)
        argv, popen_cwd = self._argv(command, cwd, clean_env, marker, (cwd_fd, exit_fd), detached)
        kwargs: dict[str, Any] = {"stdout": stdout, "stderr": stderr, "pass_fds": pass_fds, "cwd": popen_cwd}
        # bwrap itself gets the clean env too: inside the PID namespace /proc/1/environ is bwrap's own.
        launch = asyncio.ensure_future(
            asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL if stdin is None else stdin,
                env=clean_env,
                start_new_session=True,
                **kwargs,
            )
        )
        try:
            proc = await asyncio.shield(launch)
        except asyncio.CancelledError:
            # Cancelled mid-launch, asyncio would SIGKILL only bwrap's monitor and orphan the sandbox:
            # let the launch finish, then kill the whole job properly.
            with contextlib.suppress(OSError):
                await self.kill(await launch, marker)
            raise
        self.live[proc.pid] = (proc, marker)
        return proc

    async def kill(self, proc: Process, marker: str) -> None:
        kill_group(proc.pid, marker)
        await proc.wait()
        # Once bwrap's monitor is reaped it can clone nothing more; sweep until nothing carrying the job's marker
        # is left, which also catches a sandbox created while the first sweep ran.
        for _ in range(50):
            if not kill_marked(marker):
                break
            await asyncio.sleep(0.01)

    async def wait(
        self, proc: Process, marker: str, timeout_s: float, *, output_size: Callable[[], int] | None = None
    ) -> str | None:
        """Wait for the process; kill it on timeout, on too much output, or on cancellation.

        Returns None when it exited by itself, else "timeout" or "output_limit".
        """
        deadline = asyncio.get_running_loop().time() + max(0.001, timeout_s)
        waiter = asyncio.ensure_future(proc.wait())
        try:
            while True:
                remaining = deadline - asyncio.get_running_loop().time()
                if remaining <= 0:
                    await self.kill(proc, marker)
                    return "timeout"
                try:
                    await asyncio.wait_for(asyncio.shield(waiter), timeout=min(remaining, _WATCH_INTERVAL_S))
                    return None
                except TimeoutError:
                    if output_size is not None and output_size() > MAX_OUTPUT_BYTES:
                        await self.kill(proc, marker)
                        return "output_limit"
        except asyncio.CancelledError:
            await asyncio.shield(self.kill(proc, marker))
            raise
        finally:
            waiter.cancel()
            self.live.pop(proc.pid, None)

    async def close(self) -> None:
        for proc, marker in list(self.live.values()):
            if proc.returncode is None:
                await self.kill(proc, marker)
        self.live.clear()


def open_job_files(path: str, names: Sequence[str]) -> list[int]:
    """Create (truncate) the job's output files and return their descriptors, close-on-exec in Dexa."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC
    return [os.open(os.path.join(path, name), flags, 0o644) for name in names]
