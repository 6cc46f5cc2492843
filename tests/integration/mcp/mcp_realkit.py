"""Helpers for real-server tests: a pid-recording launch wrapper, free ports, waiting for a listener."""

from __future__ import annotations

import os
import signal
import socket
import time
from pathlib import Path

from dexa.adapters.mcp.config import ServerConfig
from dexa.adapters.mcp.transports import StdioLaunch


class PidWrapper:
    """Launches each stdio server through `sh -c 'echo $$ > pidfile; exec ...'` so a test can kill it."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def __call__(self, launch: StdioLaunch, server: ServerConfig) -> StdioLaunch:
        pidfile = self.directory / f"{server.name}.pid"
        script = f'echo $$ > "{pidfile}"; exec "$0" "$@"'
        return StdioLaunch(
            command="/bin/sh", args=("-c", script, launch.command, *launch.args), env=launch.env, cwd=launch.cwd
        )

    def pid(self, name: str) -> int:
        return int((self.directory / f"{name}.pid").read_text())

    def kill(self, name: str) -> None:
        os.kill(self.pid(name), signal.SIGKILL)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listening on {port} after {timeout}s")
