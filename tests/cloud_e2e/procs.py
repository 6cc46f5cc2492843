"""Child processes of the harness: started, waited on until they print their URL, stopped by their own pid."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any


class Child:
    """A process that prints `listening on URL` when ready; its output goes to a log file."""

    def __init__(self, name: str, argv: Sequence[str], *, log_dir: Path, env: dict[str, str] | None = None) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self._log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            list(argv),
            stdout=subprocess.PIPE,
            stderr=self._log,
            env=env if env is not None else os.environ.copy(),
            start_new_session=True,
        )
        self.url = self._wait_url()
        # Keep draining stdout so a chatty child never blocks on a full pipe.
        threading.Thread(target=self._drain, daemon=True).start()

    def _wait_url(self, timeout: float = 60) -> str:
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline().decode()
            if not line and self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited ({self.proc.returncode}); see {self.log_path}")
            self._log.write(line.encode())
            if line.startswith("listening on "):
                return line.split("listening on ", 1)[1].strip()
        raise RuntimeError(f"{self.name} printed no URL within {timeout}s; see {self.log_path}")

    def _drain(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._log.write(line)
            self._log.flush()

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        self._log.close()


class QuietHTTPServer(ThreadingHTTPServer):
    """A threading server that doesn't print a traceback when a client hangs up (clients here often do)."""

    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass


def python() -> str:
    """The venv's interpreter (the harness runs under it): children get the same packages."""
    return sys.executable
