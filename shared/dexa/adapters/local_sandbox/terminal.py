"""An interactive shell on a pseudo-terminal inside the session's sandbox: the API's workspace terminal.

The pty pair is made here; the slave end becomes the sandboxed shell's stdin/stdout/stderr through the same Launcher
(bwrap, cgroup or rlimits, egress namespace) every Bash command uses, so the terminal reaches exactly what the
agent's commands reach and nothing of the host. bwrap starts the command in a new session (--new-session), without a
controlling terminal; `setsid -w -c` makes the pty that terminal inside the sandbox, so Ctrl-C, job control and
SIGWINCH on resize behave as in any terminal. The master end stays with the control plane, which only relays bytes.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import struct
import termios
import uuid
from collections.abc import Mapping

from .journal import marker_for
from .launch import Launcher, Process, exit_status

SHELL = "exec setsid -w -c /bin/bash -i"
READ_CHUNK = 64 << 10


def _winsize(fd: int, cols: int, rows: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", max(1, rows), max(1, cols), 0, 0))


def _wake(ready: asyncio.Future[None]) -> None:
    if not ready.done():
        ready.set_result(None)


class PtySession:
    """One terminal: bytes in (`write`), bytes out (`read`, b"" at the end), `resize`, and `close` (kills it)."""

    def __init__(self, launcher: Launcher, proc: Process, marker: str, master: int) -> None:
        self._launcher = launcher
        self._proc = proc
        self._marker = marker
        self._master = master
        self._closed = False

    @property
    def returncode(self) -> int | None:
        return None if self._proc.returncode is None else exit_status(self._proc.returncode)

    async def read(self) -> bytes:
        """The next output; b"" once the shell has exited and its output is drained."""
        loop = asyncio.get_running_loop()
        while not self._closed:
            try:
                return os.read(self._master, READ_CHUNK)
            except BlockingIOError:
                ready: asyncio.Future[None] = loop.create_future()
                loop.add_reader(self._master, _wake, ready)
                try:
                    await ready
                finally:
                    loop.remove_reader(self._master)
            except OSError:  # EIO: every slave end is closed, the shell is gone
                return b""
        return b""

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view and not self._closed:
            try:
                view = view[os.write(self._master, view) :]
            except BlockingIOError:
                continue  # the pty's input queue is full for a moment; the shell is reading it
            except OSError:
                return

    def resize(self, cols: int, rows: int) -> None:
        if not self._closed:
            _winsize(self._master, cols, rows)  # the kernel sends SIGWINCH to the shell's foreground job

    async def wait(self) -> int:
        await self._proc.wait()
        return exit_status(self._proc.returncode)

    async def close(self) -> None:
        """Kill the shell and everything it started (the whole sandbox), then release the pty."""
        if self._closed:
            return
        if self._proc.returncode is None:
            await self._launcher.kill(self._proc, self._marker)
        self._launcher.live.pop(self._proc.pid, None)
        self._closed = True
        with contextlib.suppress(OSError):
            os.close(self._master)


async def open_pty(
    launcher: Launcher, *, cwd: str, cols: int, rows: int, env: Mapping[str, str] | None = None
) -> PtySession:
    master, slave = os.openpty()
    cwd_fd = os.memfd_create("dexa-term-cwd", os.MFD_CLOEXEC)
    try:
        _winsize(slave, cols, rows)
        os.set_blocking(master, False)
        marker = marker_for(uuid.uuid4().hex)
        shell_env = {"TERM": "xterm-256color", "COLORTERM": "truecolor", **(env or {})}
        proc = await launcher.launch(
            SHELL, cwd=cwd, env=shell_env, marker=marker, stdout=slave, stderr=slave, cwd_fd=cwd_fd, stdin=slave
        )
    except BaseException:
        os.close(master)
        raise
    finally:
        os.close(slave)  # the shell holds its own copies; ours would keep the pty open after it exits
        os.close(cwd_fd)
    return PtySession(launcher, proc, marker, master)
