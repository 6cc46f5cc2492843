"""A sandbox started ahead of its command: the next journaled command's bwrap setup runs while the model thinks.

Setting up a sandbox (the launch shell joining the cgroup, bwrap making fresh namespaces, mounts and /proc) is
~10 ms of another process's time before bash even starts; every Bash paid it on its own critical path. So after a
journaled command ends, the session starts the next one's sandbox at once, with everything a launch would give it
(same command line, environment, cgroup, descriptors), and a tiny bash inside that waits for a go. When the next
command comes, it is handed over as the script bash would have got on its command line, and that bash `exec`s the
exact `bash --noprofile --norc -c <trap + command>` a fresh launch runs: one sandbox per command, as before.

It is used only when it is identical to what a launch would build now: the whole plan is recomputed and compared,
and so is the identity (device, inode) of every path bound into it, so a control file (`.claude`, `.git/hooks`)
that appeared or was replaced since, or a different cwd or environment, means a fresh launch instead. A spare
waits on a pipe only Dexa holds: if Dexa dies first, the pipe closes and the spare exits without running anything,
so a crash can't run a command twice or leave one behind. Idle spares are ended after SPARE_IDLE_S.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import shutil
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from dexa.core.errors import SandboxError

from . import bwrap
from .journal import JobDir, marker_for
from .launch import Launcher, Plan, Process, open_job_files

logger = logging.getLogger(__name__)

# The journal files a command writes, in the order open_job_files gets them (cwd, exit, sandbox last: see below).
JOB_FILES = ("stdout", "stderr", "cwd", "exit", "sandbox")
SPARE_IDLE_S = 300.0
# Waits for the go line (EOF: Dexa is gone, run nothing), reads the script whole from a seekable memfd (bash reads
# those in blocks, not byte by byte), closes both descriptors so the command sees exactly a fresh launch's, and
# becomes the command's bash.
_WAIT = (
    "IFS= read -r _ <&{go} || exit 0; IFS= read -r -d '' __dexa_script <&{script}; "
    'exec {go}<&- {script}<&-; exec {shell} --noprofile --norc -c "$__dexa_script"'
)
_BIND_FLAGS = frozenset({"--bind", "--ro-bind", "--ro-bind-try", "--bind-try"})


def _bound_identities(argv: list[str]) -> tuple[tuple[int, int] | None, ...]:
    """(device, inode) of every path bound into the sandbox: a bind pins the inode it found at mount time."""
    found: list[tuple[int, int] | None] = []
    for flag, source in itertools.pairwise(argv):
        if flag in _BIND_FLAGS:
            try:
                st = os.stat(source)
            except OSError:
                found.append(None)
            else:
                found.append((st.st_dev, st.st_ino))
    return tuple(found)


@dataclass
class Spare:
    proc: Process
    marker: str
    path: str  # state_dir/spares/<owner pid>-<id>: the journal files, moved into the job's directory when taken
    plan: Plan
    identities: tuple[tuple[int, int] | None, ...]
    cwd_fd: int  # descriptor numbers as the sandbox has them (the trap writes to them)
    exit_fd: int
    info_fd: int
    script_fd: int  # Dexa's ends
    go_fd: int
    cwd: str
    env: dict[str, str] | None
    loop: asyncio.AbstractEventLoop
    expiry: asyncio.TimerHandle | None = None

    def release(self) -> None:
        """Let it go: with the go pipe closed it exits by itself, having run nothing."""
        if self.expiry is not None:
            self.expiry.cancel()
        for fd in (self.go_fd, self.script_fd):
            with contextlib.suppress(OSError):
                os.close(fd)
        self.go_fd = self.script_fd = -1
        shutil.rmtree(self.path, ignore_errors=True)


class SpareSlot:
    """At most one spare per session, for journaled commands (the Bash tool's)."""

    def __init__(self, launcher: Launcher, state_dir: str, *, idle_s: float = SPARE_IDLE_S) -> None:
        self._launcher = launcher
        self._dir = os.path.join(state_dir, "spares")
        self._idle_s = idle_s
        self._spare: Spare | None = None
        self._pending: asyncio.Future[None] | None = None
        self.enabled = idle_s > 0 and not launcher.unsandboxed and bwrap.find_shell().endswith("bash")
        self.taken = 0  # how many commands ran in a spare (benchmarks and tests read it)
        os.makedirs(self._dir, exist_ok=True)
        _sweep_orphans(self._dir)

    async def _plan(
        self, cwd: str, env: Mapping[str, str] | None, marker: str, fds: tuple[int, int, int], wait: list[str]
    ) -> Plan:
        return await self._launcher.plan(
            "",
            cwd=cwd,
            env=env,
            marker=marker,
            cwd_fd=fds[0],
            exit_fd=fds[1],
            detached=True,
            info_fd=fds[2],
            inner=wait,
        )

    def refill_soon(self, cwd: str, env: Mapping[str, str] | None) -> None:
        """Start the next command's sandbox at the event loop's next turn: the command's result goes back first, and
        the spawn then overlaps whatever the session awaits next (the model's reply)."""
        if not self.enabled or self._spare is not None or (self._pending is not None and not self._pending.done()):
            return
        self._pending = asyncio.ensure_future(self._refill_logged(cwd, env))

    async def _refill_logged(self, cwd: str, env: Mapping[str, str] | None) -> None:
        try:
            await self.refill(cwd, env)
        except (SandboxError, OSError):
            logger.warning("could not start the next command's sandbox ahead of it", exc_info=True)

    async def _settled(self) -> None:
        """Wait for a refill in flight (without taking its errors, or cancelling it if this waiter is cancelled)."""
        if self._pending is not None and not self._pending.done():
            await asyncio.wait([self._pending])

    async def refill(self, cwd: str, env: Mapping[str, str] | None) -> None:
        """Start the next command's sandbox now (a no-op when one is waiting or spares are off)."""
        if not self.enabled or self._spare is not None:
            return
        path = os.path.join(self._dir, f"{os.getpid()}-{uuid.uuid4().hex[:12]}")
        os.mkdir(path)
        files = open_job_files(path, JOB_FILES)
        go_r, go_w = os.pipe()
        script_fd = os.memfd_create("dexa-script", os.MFD_CLOEXEC)
        shell = bwrap.find_shell()
        wait = [shell, "--noprofile", "--norc", "-c", _WAIT.format(go=go_r, script=script_fd, shell=shell)]
        marker = marker_for(path)
        fds = (files[2], files[3], files[4])
        try:
            plan = await self._plan(cwd, env, marker, fds, wait)
            proc = self._launcher.start(
                plan, marker=marker, stdout=files[0], stderr=files[1], extra_fds=(go_r, script_fd)
            )
        except BaseException:
            for fd in (go_w, script_fd):
                os.close(fd)
            shutil.rmtree(path, ignore_errors=True)
            raise
        finally:
            for fd in (*files, go_r):
                os.close(fd)
        spare = Spare(
            proc=proc,
            marker=marker,
            path=path,
            plan=plan,
            identities=_bound_identities(plan.argv),
            cwd_fd=fds[0],
            exit_fd=fds[1],
            info_fd=fds[2],
            script_fd=script_fd,
            go_fd=go_w,
            cwd=cwd,
            env=dict(env) if env is not None else None,
            loop=asyncio.get_running_loop(),
        )
        spare.expiry = asyncio.get_running_loop().call_later(self._idle_s, self._let_go, spare)
        self._spare = spare

    def _let_go(self, spare: Spare) -> None:
        if self._spare is spare:
            self._spare = None
        self._launcher.live.pop(spare.proc.pid, None)
        spare.release()

    async def close(self) -> None:
        """Let the spare go but leave it tracked, so the launcher's close() waits for it to be gone."""
        if self._pending is not None and not self._pending.done():
            self._pending.cancel()
        await self._settled()
        spare, self._spare = self._spare, None
        if spare is not None:
            spare.release()

    async def take(self, job: JobDir, command: str, cwd: str, env: Mapping[str, str] | None) -> Process | None:
        """Run `command` as `job` in the waiting spare if it is exactly what a launch would build now; else None
        (the caller launches), having let a spare that no longer fits go."""
        await self._settled()
        spare, self._spare = self._spare, None
        if spare is None:
            return None
        # A spare's exit is watched by the loop that started it: another loop would never see the command end.
        stale = spare.proc.returncode is not None or spare.loop is not asyncio.get_running_loop()
        if stale or not await self._fits(spare, cwd, env):
            self._let_go(spare)
            return None
        try:
            for name in JOB_FILES:
                os.rename(os.path.join(spare.path, name), job.file(name))
        except OSError:
            logger.warning("spare sandbox %s lost its journal files; launching afresh", spare.path, exc_info=True)
            self._let_go(spare)
            return None
        job.adopt_marker(spare.marker)
        job.write_pid(spare.proc.pid)
        script = self._launcher.inner_argv(command, (spare.cwd_fd, spare.exit_fd), spare.plan.bridge)[-1]
        # pwrite: the sandbox's descriptor shares this one's file offset, which must stay at 0 for its read.
        os.pwrite(spare.script_fd, script.encode(), 0)
        os.write(spare.go_fd, b"\n")
        spare.release()  # it stays in `live`: it is the command now
        self.taken += 1
        return spare.proc

    async def _fits(self, spare: Spare, cwd: str, env: Mapping[str, str] | None) -> bool:
        if cwd != spare.cwd or (dict(env) if env is not None else None) != spare.env:
            return False
        wait = spare.plan.argv[spare.plan.argv.index("--") + 1 :]
        now = await self._plan(cwd, env, spare.marker, (spare.cwd_fd, spare.exit_fd, spare.info_fd), wait)
        return (
            now.argv == spare.plan.argv
            and now.env == spare.plan.env
            and now.cwd == spare.plan.cwd
            and now.pass_fds == spare.plan.pass_fds
            and _bound_identities(now.argv) == spare.identities
        )


def _sweep_orphans(spares_dir: str) -> None:
    """Remove the spare directories of Dexa processes that are gone (their spares exited with them)."""
    for name in os.listdir(spares_dir):
        owner, _, _ = name.partition("-")
        try:
            os.kill(int(owner), 0)
        except (ValueError, ProcessLookupError):
            shutil.rmtree(os.path.join(spares_dir, name), ignore_errors=True)
        except PermissionError:
            continue
        else:
            # A live owner may be another process sharing this state directory; only very old ones are stale.
            with contextlib.suppress(OSError):
                if time.time() - os.path.getmtime(os.path.join(spares_dir, name)) > 2 * SPARE_IDLE_S:
                    shutil.rmtree(os.path.join(spares_dir, name), ignore_errors=True)
