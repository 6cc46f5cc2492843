"""The on-disk journal of one command: state_dir/jobs/<job_id>/.

Files (written by the wrapper shell in bwrap.py, or by Dexa where noted):
    meta.json   command, cwd, start time                     (Dexa, before launch)
    started     O_EXCL claim: the wrapper's or "abandoned"   (wrapper, or recover() when it never started)
    pid         the wrapper's pid = its process group id      (wrapper)
    stdout, stderr, cwd                                       (the command)
    exit        exit status, one line                         (wrapper, or Dexa after a kill)
    timed_out / killed                                        (Dexa, markers)

The journal is plain files so a fresh Dexa process (after SIGKILL) can find out what happened.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import signal
import time
from dataclasses import dataclass
from typing import Any

from dexa.core.ports import ExecResult

# Per-stream cap on what is read back into memory; the Bash tool shows far less than this anyway.
STREAM_CAP = 1 << 20
_SAFE_ID = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")
_ABANDONED = b"abandoned\n"


def job_dir_name(job_id: str) -> str:
    """A filesystem-safe, collision-free directory name for a job id."""
    if _SAFE_ID.match(job_id) and job_id not in {".", ".."}:
        return job_id
    return "h-" + hashlib.sha256(job_id.encode()).hexdigest()[:40]


def _read_capped(path: str, cap: int = STREAM_CAP) -> str:
    """Whole file when small; else head and tail around an omission notice (the end of a log matters)."""
    try:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            if size <= cap:
                return fh.read().decode(errors="replace")
            head = fh.read(cap // 2)
            fh.seek(size - cap // 2)
            tail = fh.read()
    except FileNotFoundError:
        return ""
    omitted = size - len(head) - len(tail)
    return f"{head.decode(errors='replace')}\n... [{omitted} bytes omitted] ...\n{tail.decode(errors='replace')}"


def _complete_utf8(data: bytes) -> int:
    """Length of the longest prefix of `data` that does not end inside a multi-byte UTF-8 character."""
    i = len(data) - 1
    while i >= 0 and len(data) - i < 4 and data[i] & 0xC0 == 0x80:
        i -= 1
    if i < 0:
        return len(data)
    lead = data[i]
    need = 2 if lead >> 5 == 0b110 else 3 if lead >> 4 == 0b1110 else 4 if lead >> 3 == 0b11110 else 1
    return i if len(data) - i < need else len(data)


@dataclass(frozen=True, slots=True)
class JobDir:
    path: str

    def file(self, name: str) -> str:
        return os.path.join(self.path, name)

    def has(self, name: str) -> bool:
        return os.path.exists(self.file(name))

    def create(self, meta: dict[str, Any]) -> None:
        os.makedirs(self.path, exist_ok=True)
        tmp = self.file("meta.json.tmp")
        with open(tmp, "w") as fh:
            json.dump(meta, fh)
        os.replace(tmp, self.file("meta.json"))

    def meta(self) -> dict[str, Any]:
        try:
            with open(self.file("meta.json")) as fh:
                return json.load(fh)
        except (OSError, ValueError):
            return {}

    def exists(self) -> bool:
        return os.path.isdir(self.path)

    def started(self) -> bool:
        return self.has("started")

    def abandoned(self) -> bool:
        try:
            with open(self.file("started"), "rb") as fh:
                return fh.read() == _ABANDONED
        except OSError:
            return False

    def claim_abandoned(self) -> bool:
        """Atomically mark a job that never started, so it never will. False when it did start."""
        try:
            fd = os.open(self.file("started"), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "wb") as fh:
            fh.write(_ABANDONED)
        return True

    def exit_code(self) -> int | None:
        """The recorded exit status, or None while the command runs (a half-written line does not count)."""
        try:
            with open(self.file("exit")) as fh:
                text = fh.read()
        except OSError:
            return None
        if not text.endswith("\n"):
            return None
        try:
            return int(text.strip())
        except ValueError:
            return None

    def write_exit(self, code: int, *, marker: str | None = None) -> None:
        if marker:
            with open(self.file(marker), "w") as fh:
                fh.write(f"{time.time()}\n")
        if self.exit_code() is None:
            with open(self.file("exit"), "w") as fh:
                fh.write(f"{code}\n")

    def pid(self) -> int | None:
        try:
            with open(self.file("pid")) as fh:
                return int(fh.read().strip())
        except (OSError, ValueError):
            return None

    def alive(self) -> bool:
        """Is this job's wrapper still running? Guards against pid reuse by checking its command line."""
        pid = self.pid()
        if pid is None:
            return False
        try:
            with open(f"/proc/{pid}/stat", "rb") as fh:
                state = fh.read().rsplit(b")", 1)[1].split()[0]
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                cmdline = fh.read()
        except (OSError, IndexError):
            return False
        return state not in (b"Z", b"X") and self.path.encode() in cmdline

    def kill(self) -> None:
        """SIGKILL the wrapper's process group; bwrap's --die-with-parent takes the sandbox down with it."""
        pid = self.pid()
        if pid is not None and self.alive():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)

    def cwd(self) -> str:
        try:
            with open(self.file("cwd")) as fh:
                lines = [line for line in fh.read().splitlines() if line.strip()]
        except OSError:
            return ""
        return lines[-1] if lines else ""

    def read_stream(self, name: str) -> str:
        return _read_capped(self.file(name))

    def read_from(self, name: str, offset: int, cap: int = STREAM_CAP, *, final: bool = False) -> tuple[str, int]:
        """Text appended since byte `offset`, and the offset to continue from.

        While the job runs, a trailing partial UTF-8 sequence is left for the next poll instead of being mangled.
        """
        try:
            with open(self.file(name), "rb") as fh:
                fh.seek(offset)
                data = fh.read(cap)
        except FileNotFoundError:
            return "", offset
        cut = len(data) if final else _complete_utf8(data)
        return data[:cut].decode(errors="replace"), offset + cut

    def result(self, *, default_code: int = -1) -> ExecResult:
        code = self.exit_code()
        meta = self.meta()
        started_at = float(meta.get("started_at") or 0.0)
        finished_at = os.path.getmtime(self.file("exit")) if self.has("exit") else time.time()
        stderr = self.read_stream("stderr")
        if self.abandoned():
            stderr += "\n[dexa: the command never started; it was abandoned after a crash]"
        elif code is None:
            stderr += "\n[dexa: the command was interrupted before it finished]"
        return ExecResult(
            exit_code=default_code if code is None else code,
            stdout=self.read_stream("stdout"),
            stderr=stderr,
            timed_out=self.has("timed_out"),
            cwd=self.cwd(),
            duration_ms=max(0, int((finished_at - started_at) * 1000)) if started_at else 0,
        )
