"""The on-disk journal of one command, state_dir/jobs/<job_id>/, and the process helpers around it.

Files (Dexa writes all but the command's own output, cwd and exit status):
    meta.json   command, cwd, start time                         before launch
    started     O_EXCL claim written right before the spawn: whoever creates it runs the job (exactly once)
    pid         "<pid> <start time>" of the launched process (bwrap, or bash when unsandboxed)
    sandbox     bwrap's --info-fd output: {"child-pid": <host pid of the sandbox's init>}
    marker      the sandbox's hostname when it is not marker_for(job dir): one started ahead of the job (spare.py)
    stdout, stderr, cwd, exit                                    the command (bash's EXIT trap writes cwd, exit)
    timed_out / killed / interrupted                             markers, written by Dexa

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
_CMDLINE_CHUNK = 1 << 16


def read_fd_capped(fd: int, cap: int = STREAM_CAP) -> str:
    """Whole file when small; else head and tail around an omission notice (the end of a log matters)."""
    size = os.fstat(fd).st_size
    if size <= cap:
        return os.pread(fd, size, 0).decode(errors="replace")
    head = os.pread(fd, cap // 2, 0)
    tail = os.pread(fd, cap // 2, size - cap // 2)
    omitted = size - len(head) - len(tail)
    return f"{head.decode(errors='replace')}\n... [{omitted} bytes omitted] ...\n{tail.decode(errors='replace')}"


def _read_capped(path: str) -> str:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return ""
    try:
        return read_fd_capped(fd)
    finally:
        os.close(fd)


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


def _needle(marker: str) -> bytes:
    return b"\0--hostname\0" + marker.encode() + b"\0"


def _marked(marker: str) -> list[int]:
    needle = _needle(marker)
    return [int(entry) for entry in os.listdir("/proc") if entry.isdigit() and needle in _cmdline(entry)]


def _cmdline(pid: str) -> bytes:
    """A process's command line, b"" once it is gone. Raw descriptors, not `open()`: this runs for every process on
    the machine after every sandboxed command, and a buffered file object per process doubled the scan's cost."""
    try:
        fd = os.open(f"/proc/{pid}/cmdline", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return b""
    try:
        data = b""
        # Until end of file: some kernels return at most a page per read of this file.
        while chunk := os.read(fd, _CMDLINE_CHUNK):
            data += chunk
        return data
    except OSError:
        return b""
    finally:
        os.close(fd)


def kill_marked(marker: str) -> int:
    """SIGKILL every process whose command line carries `--hostname <marker>`; returns how many."""
    killed = 0
    for pid in _marked(marker):
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
            killed += 1
    return killed


def kill_sandbox(pid: int, marker: str) -> None:
    """SIGKILL a sandbox through its init (`pid`, from bwrap's --info-fd): the kernel then kills everything left in
    its PID namespace, however it double-forked or setsid'd. One process checked instead of a scan of /proc.

    The pidfd pins the process while its command line is checked for the job's marker, so a recycled pid is never
    signalled: a process without the marker is not this sandbox's init, whose namespace is then gone already (an
    exited init leaves a zombie with an empty command line only after the kernel emptied its namespace).
    """
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    try:
        if _needle(marker) in _cmdline(str(pid)):
            with contextlib.suppress(ProcessLookupError):
                signal.pidfd_send_signal(pidfd, signal.SIGKILL)
    finally:
        os.close(pidfd)


def sandbox_init(info: bytes) -> int | None:
    """The init's pid from bwrap's --info-fd output; None when bwrap never wrote it (it failed before its clone)."""
    try:
        pid = json.loads(info or b"null")
        pid = pid.get("child-pid") if isinstance(pid, dict) else None
    except ValueError:
        return None
    return pid if isinstance(pid, int) and pid > 1 else None


def kill_group(pgid: int | None, marker: str) -> None:
    """SIGKILL a launched process group, then any sandbox outside it (bwrap's init has its own session)."""
    if pgid is not None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
    kill_marked(marker)


def process_start(pid: int) -> str | None:
    """The kernel's start time of `pid` (guards against pid reuse), or None when it is gone or a zombie."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            fields = fh.read().rsplit(b")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return None if fields[0] in (b"Z", b"X") else fields[19].decode()


def marker_for(key: str) -> str:
    return "dexa-" + hashlib.sha256(key.encode()).hexdigest()[:16]


def job_dir_name(job_id: str) -> str:
    """A filesystem-safe, collision-free directory name for a job id."""
    if _SAFE_ID.match(job_id) and job_id not in {".", ".."}:
        return job_id
    return "h-" + hashlib.sha256(job_id.encode()).hexdigest()[:40]


@dataclass(frozen=True, slots=True)
class JobDir:
    path: str

    def file(self, name: str) -> str:
        return os.path.join(self.path, name)

    def has(self, name: str) -> bool:
        return os.path.exists(self.file(name))

    def exists(self) -> bool:
        return os.path.isdir(self.path)

    @property
    def marker(self) -> str:
        """The sandbox hostname for this job: unique, and visible in bwrap's command line on the host. A job run in
        a sandbox started ahead of it (spare.py) keeps that sandbox's, recorded in `marker`."""
        try:
            with open(self.file("marker")) as fh:
                return fh.read().strip() or marker_for(self.path)
        except OSError:
            return marker_for(self.path)

    def adopt_marker(self, marker: str) -> None:
        with open(self.file("marker"), "w") as fh:
            fh.write(marker + "\n")

    def create(self, meta: dict[str, Any]) -> None:
        # One short write; meta() treats a torn file as empty, so no temp-file-and-rename is needed.
        os.makedirs(self.path, exist_ok=True)
        with open(self.file("meta.json"), "w") as fh:
            fh.write(json.dumps(meta))

    def meta(self) -> dict[str, Any]:
        try:
            with open(self.file("meta.json")) as fh:
                return json.load(fh)
        except (OSError, ValueError):
            return {}

    def claim(self, content: str, *, name: str = "started") -> bool:
        """Atomically create `started` (or `name`); False when another launch already did."""
        try:
            fd = os.open(self.file(name), os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w") as fh:
            fh.write(content)
        return True

    def started(self) -> bool:
        return self.has("started")

    def began(self) -> bool:
        """Did the job's shell start (its first act writes a line to `cwd`), or did it finish?"""
        try:
            return os.path.getsize(self.file("cwd")) > 0 or self.has("exit")
        except OSError:
            return self.has("exit")

    def write_pid(self, pid: int) -> None:
        with open(self.file("pid"), "w") as fh:
            fh.write(f"{pid} {process_start(pid) or ''}\n")

    def pid(self) -> int | None:
        try:
            with open(self.file("pid")) as fh:
                return int(fh.read().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def alive(self) -> bool:
        """Is any process of this job left: the launched one (same start time), or its marked sandbox?"""
        try:
            with open(self.file("pid")) as fh:
                pid_text, _, start = fh.read().strip().partition(" ")
            if start and process_start(int(pid_text)) == start:
                return True
        except (OSError, ValueError):
            pass
        return bool(_marked(self.marker))

    def end_sandbox(self) -> None:
        """Kill what the job's command left running in its sandbox (daemons keep a detached sandbox's init alive).
        Through the init's pid when bwrap journaled it, else (a launch that failed early) by the marker scan."""
        try:
            with open(self.file("sandbox"), "rb") as fh:
                pid = sandbox_init(fh.read())
        except OSError:
            pid = None
        if pid is None:
            kill_marked(self.marker)
        else:
            kill_sandbox(pid, self.marker)

    def kill(self) -> None:
        """Kill a job this process did not launch (after a crash), then wait for it to be gone."""
        pid = self.pid()
        kill_group(pid if pid is not None and self.alive() else None, self.marker)
        deadline = time.monotonic() + 2.0
        while self.alive() and time.monotonic() < deadline:
            kill_marked(self.marker)
            time.sleep(0.005)

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
            return int(text.strip().splitlines()[-1])
        except (ValueError, IndexError):
            return None

    def write_exit(self, code: int, *, marker: str | None = None) -> None:
        if marker:
            with open(self.file(marker), "w") as fh:
                fh.write(f"{time.time()}\n")
        if self.exit_code() is None:
            with open(self.file("exit"), "w") as fh:
                fh.write(f"{code}\n")

    def cwd(self) -> str:
        try:
            with open(self.file("cwd")) as fh:
                lines = [line for line in fh.read().splitlines() if line.strip()]
        except OSError:
            return ""
        return lines[-1] if lines else ""

    def output_size(self) -> int:
        size = 0
        for name in ("stdout", "stderr"):
            with contextlib.suppress(OSError):
                size += os.path.getsize(self.file(name))
        return size

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

    def result(self) -> ExecResult:
        code = self.exit_code()
        meta = self.meta()
        started_at = float(meta.get("started_at") or 0.0)
        finished_at = os.path.getmtime(self.file("exit")) if self.has("exit") else time.time()
        stderr = self.read_stream("stderr")
        if code is None or self.has("interrupted"):
            stderr += "\n[dexa: the command was interrupted before it finished]"
        return ExecResult(
            exit_code=137 if code is None else code,
            stdout=self.read_stream("stdout"),
            stderr=stderr,
            timed_out=self.has("timed_out"),
            cwd=self.cwd(),
            duration_ms=max(0, int((finished_at - started_at) * 1000)) if started_at else 0,
        )
