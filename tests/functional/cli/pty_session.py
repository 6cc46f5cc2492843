"""Drive a terminal program as a person at a keyboard would: a real pseudo-terminal (python's pty module),
keystrokes written to it, and its screen output read back with the escape codes stripped."""

from __future__ import annotations

import os
import re
import select
import signal
import struct
import subprocess
import termios
import threading
import time
from collections.abc import Sequence
from fcntl import ioctl

ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07]*\x07|\x1b[()][A-Za-z0-9]|\x1b[=>]|\r")


class PtySession:
    def __init__(self, argv: Sequence[str], *, env: dict[str, str], cwd: str, cols: int = 120) -> None:
        master, slave = os.openpty()
        ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, cols, 0, 0))
        self.proc = subprocess.Popen(
            list(argv), stdin=slave, stdout=slave, stderr=slave, env=env, cwd=cwd, start_new_session=True
        )
        os.close(slave)
        self.fd = master
        self.raw = ""
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                ready, _, _ = select.select([self.fd], [], [], 0.1)
                if not ready:
                    if self.proc.poll() is not None:
                        return
                    continue
                chunk = os.read(self.fd, 65536)
            except OSError:
                return
            if not chunk:
                return
            with self._lock:
                self.raw += chunk.decode("utf-8", errors="replace")

    @property
    def text(self) -> str:
        with self._lock:
            return ANSI.sub("", self.raw)

    def send(self, keys: str) -> None:
        os.write(self.fd, keys.encode())

    def line(self, text: str) -> None:
        self.send(text)
        time.sleep(0.1)  # let the line editor take the text before Enter, as typing would
        self.send("\r")

    def expect(self, needle: str, *, after: int = 0, timeout: float = 60.0) -> int:
        """Wait until `needle` shows on screen after position `after`; its end position."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.text.find(needle, after)
            if found >= 0:
                return found + len(needle)
            if self.proc.poll() is not None and self.text.find(needle, after) < 0:
                time.sleep(0.2)
                if self.text.find(needle, after) < 0:
                    break
            time.sleep(0.05)
        raise AssertionError(f"{needle!r} not on screen; it shows:\n{self.text[after:][-3000:]}")

    def close(self) -> int:
        try:
            return self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            return self.proc.wait()
        finally:
            os.close(self.fd)
