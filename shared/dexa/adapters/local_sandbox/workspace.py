"""LocalSandbox: the Workspace port on this machine, every command inside bubblewrap."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import shutil
import time
import uuid
from collections.abc import Mapping, Sequence

from dexa.core.errors import SandboxError
from dexa.core.ports import BackgroundJob, ExecResult

from . import bwrap
from .background import BackgroundJobs
from .files import WorkspaceFiles
from .journal import JobDir, job_dir_name, marker_for, read_fd_capped
from .launch import MAX_OUTPUT_BYTES, Launcher, Process, exit_status, open_job_files
from .limits import SandboxLimits
from .spare import SPARE_IDLE_S, SpareSlot
from .terminal import PtySession, open_pty

logger = logging.getLogger(__name__)

UNSANDBOXED_WARNING = (
    "WARNING: the workspace is UNSANDBOXED. Commands run as plain subprocesses with full access to this machine's "
    "files and network. Use this only for trusted tasks; install bubblewrap (`apt-get install bubblewrap`) to isolate."
)
_warned_unsandboxed = False
NO_EGRESS_WARNING = (
    "network=True without an egress_socket gives the sandbox NO network: it never shares the host's network "
    "(from there it could reach the control plane on 127.0.0.1). Pass the egress proxy's socket instead."
)
_warned_no_egress = False
# Binding any of these read-write would hand the host to the sandbox.
_FORBIDDEN_ROOTS = frozenset(
    {"/", "/usr", "/etc", "/bin", "/sbin", "/lib", "/lib64", "/boot", "/proc", "/dev", "/sys", "/run", "/var"}
)
_STOP_NOTES = {
    "output_limit": f"\n[dexa: the command printed more than {MAX_OUTPUT_BYTES >> 20} MiB and was killed]",
}
# Finished journals are kept this long (a resumed session may still ask for a result), then pruned on close().
JOB_RETENTION_S = 7 * 24 * 3600
# How long recover() waits for a journaled job's `started` claim, or a launched job's pid, before giving up.
_START_GRACE_S = 0.5


def _warn_no_egress() -> None:
    global _warned_no_egress
    if not _warned_no_egress:
        _warned_no_egress = True
        logger.warning("%s", NO_EGRESS_WARNING)


class LocalSandbox(WorkspaceFiles):
    """Runs commands under bwrap with only the workspace roots writable, a clean environment, and a network
    namespace of its own: only `lo`, plus 127.0.0.1:3128 bridged to `egress_socket` (the egress proxy) when
    given. `.claude/`, `.mcp.json`, `.git/hooks` and `.git/config` are read-only inside. The session's
    processes share one cgroup (`limits`) and all die with close(). File operations run on the host but refuse
    anything that resolves outside the roots.

    Journaled runs (`job_id`) and background jobs live in `state_dir/jobs/<job_id>/` and survive a SIGKILL
    of the Dexa process; `recover()` (or `poll_background()`) in a new process picks them up.
    """

    def __init__(
        self,
        root: str,
        *,
        extra_roots: Sequence[str] = (),
        network: bool = False,
        unsandboxed: bool = False,
        state_dir: str,
        limits: SandboxLimits | None = None,
        egress_socket: str | None = None,
        spare_idle_s: float = SPARE_IDLE_S,
    ) -> None:
        for path in (root, *extra_roots):
            real = os.path.realpath(path)
            if not os.path.isdir(real):
                raise SandboxError(f"Workspace root {path!r} is not a directory")
            if real in _FORBIDDEN_ROOTS:
                raise SandboxError(f"Refusing to use {path!r} as a workspace root: it would expose the system")
        super().__init__(os.path.realpath(root), tuple(os.path.realpath(p) for p in extra_roots))
        if network and egress_socket is None:
            _warn_no_egress()
        self.network = egress_socket is not None
        self.unsandboxed = unsandboxed
        self._state_dir = os.path.realpath(state_dir)
        if self.contains(self._state_dir):
            # Commands could forge their own journal (exit codes, `started` claims) from inside.
            raise SandboxError(f"state_dir {state_dir!r} must be outside the workspace roots {list(self.roots)}")
        os.makedirs(os.path.join(self._state_dir, "jobs"), exist_ok=True)
        self._launcher = Launcher(
            roots=self.roots,
            home=self.root,
            unsandboxed=unsandboxed,
            etc_cache=os.path.join(self._state_dir, "etc"),
            limits=limits,
            egress_socket=egress_socket,
        )
        # 0 turns off starting journaled commands' sandboxes ahead of them (spare.py).
        self._spares = SpareSlot(self._launcher, self._state_dir, idle_s=spare_idle_s)
        self._background = BackgroundJobs(self._launcher, self._job, self._launch_background)
        if not unsandboxed:
            bwrap.warm_probe()
        self.warning: str | None = UNSANDBOXED_WARNING if unsandboxed else None
        if unsandboxed:
            global _warned_unsandboxed
            if not _warned_unsandboxed:
                _warned_unsandboxed = True
                logger.warning("%s", UNSANDBOXED_WARNING)

    @property
    def extra_roots(self) -> tuple[str, ...]:
        return self._extra_roots

    @property
    def ran_in_spares(self) -> int:
        """How many journaled commands ran in a sandbox started ahead of them (spare.py)."""
        return self._spares.taken

    @property
    def sandboxed(self) -> bool:
        return not self.unsandboxed

    def _check_cwd(self, cwd: str) -> str:
        real = os.path.realpath(cwd or self.root)
        if not self.contains(real):
            raise SandboxError(f"Working directory {cwd!r} is outside the workspace roots {list(self.roots)}")
        if not os.path.isdir(real):
            raise SandboxError(f"Working directory {cwd!r} does not exist")
        return real

    def _job(self, job_id: str) -> JobDir:
        return JobDir(os.path.join(self._state_dir, "jobs", job_dir_name(job_id)))

    # ------------------------------------------------------------ exec

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
        """Run `command` with bash inside the sandbox (reading `stdin`, when given, else nothing).

        With `job_id` the run is journaled and exactly-once: a second call with the same id returns the
        first run's result (waiting for it if it still runs) instead of running the command again.

        Raises:
            SandboxError: bwrap is unusable and unsandboxed mode was not chosen, or cwd is outside the roots.
        """
        real_cwd = self._check_cwd(cwd)
        self._launcher.check_ready()
        if job_id is not None:
            return await self._exec_journaled(command, real_cwd, timeout_s, env, job_id)
        return await self._exec_direct(command, real_cwd, timeout_s, env, stdin)

    async def _exec_direct(
        self, command: str, cwd: str, timeout_s: float, env: Mapping[str, str] | None, stdin: bytes | None = None
    ) -> ExecResult:
        """The fast path: output goes to memfds and nothing touches the disk."""
        started = time.monotonic()
        marker = marker_for(uuid.uuid4().hex)
        out, err, cwd_fd = (os.memfd_create(n, os.MFD_CLOEXEC) for n in ("dexa-stdout", "dexa-stderr", "dexa-cwd"))
        feed = None
        if stdin is not None:
            # A memfd, not a pipe: a command that never reads its input cannot block the writer.
            feed = os.memfd_create("dexa-stdin", os.MFD_CLOEXEC)
            os.write(feed, stdin)
            os.lseek(feed, 0, os.SEEK_SET)
        try:
            proc = await self._launcher.launch(
                command, cwd=cwd, env=env, marker=marker, stdout=out, stderr=err, cwd_fd=cwd_fd, stdin=feed
            )
            stopped = await self._launcher.wait(
                proc, marker, timeout_s, output_size=lambda: os.fstat(out).st_size + os.fstat(err).st_size
            )
            cwd_lines = [line for line in read_fd_capped(cwd_fd, 1 << 16).splitlines() if line.strip()]
            return ExecResult(
                exit_code=137 if stopped else exit_status(proc.returncode),
                stdout=read_fd_capped(out),
                stderr=read_fd_capped(err) + _STOP_NOTES.get(stopped or "", ""),
                timed_out=stopped == "timeout",
                cwd=cwd_lines[-1] if cwd_lines else "",
                duration_ms=int((time.monotonic() - started) * 1000),
            )
        finally:
            for fd in (out, err, cwd_fd) if feed is None else (out, err, cwd_fd, feed):
                os.close(fd)

    async def _launch_job(
        self,
        job: JobDir,
        command: str,
        cwd: str,
        env: Mapping[str, str] | None,
        *,
        merge_output: bool,
        claim: str = "started",
    ) -> Process | None:
        """Journal and launch a detached job; None when its `claim` (`started`, or `relaunched`) was already taken."""
        os.makedirs(job.path, exist_ok=True)
        if not job.claim("launched\n", name=claim):
            return None
        job.create({"command": command, "cwd": cwd, "started_at": time.time()})
        if not merge_output:
            proc = await self._spares.take(job, command, cwd, env)
            if proc is not None:
                return proc
        names = ("stdout", "cwd", "exit", "sandbox") if merge_output else ("stdout", "stderr", "cwd", "exit", "sandbox")
        fds = open_job_files(job.path, names)
        try:
            out, err = (fds[0], fds[0]) if merge_output else (fds[0], fds[1])
            proc = await self._launcher.launch(
                command,
                cwd=cwd,
                env=env,
                marker=job.marker,
                stdout=out,
                stderr=err,
                cwd_fd=fds[-3],
                exit_fd=fds[-2],
                info_fd=fds[-1],
                detached=True,
            )
        finally:
            for fd in fds:
                os.close(fd)
        job.write_pid(proc.pid)
        return proc

    async def _launch_background(self, job: JobDir, command: str, cwd: str) -> Process | None:
        return await self._launch_job(job, command, cwd, None, merge_output=True)

    async def _exec_journaled(
        self, command: str, cwd: str, timeout_s: float, env: Mapping[str, str] | None, job_id: str
    ) -> ExecResult:
        job = self._job(job_id)
        proc = None
        if not job.started():
            proc = await self._launch_job(job, command, cwd, env, merge_output=False)
        elif await self._abandoned(job):
            proc = await self._launch_job(job, command, cwd, env, merge_output=False, claim="relaunched")
        if proc is None:
            return await self._await_job(job, timeout_s)
        try:
            stopped = await self._launcher.wait(proc, job.marker, timeout_s, output_size=lambda: job.output_size())
        except asyncio.CancelledError:
            job.write_exit(137, marker="killed")
            raise
        # A detached sandbox has no --die-with-parent, and bwrap's init outlives the command while any daemon
        # it started is alive: end them with the command, as the PID namespace does for foreground ones.
        job.end_sandbox()
        # bash's trap normally wrote the status; `exec` in the command or a kill bypasses it.
        marker = {"timeout": "timed_out", "output_limit": "killed"}.get(stopped or "")
        job.write_exit(137 if stopped else exit_status(proc.returncode), marker=marker)
        result = job.result()
        if stopped == "output_limit":
            result = dataclasses.replace(result, stderr=result.stderr + _STOP_NOTES[stopped])
        # The next command most likely starts where this one ended, with the same environment.
        self._spares.refill_soon(self._next_cwd(result.cwd, cwd), env)
        return result

    def _next_cwd(self, reported: str, fallback: str) -> str:
        real = os.path.realpath(reported) if reported else fallback
        return real if self.contains(real) and os.path.isdir(real) else fallback

    async def recover(self, job_id: str, *, wait_s: float = 600.0) -> ExecResult | None:
        """The result of a journaled run, waiting while it still runs; None when it never started.

        None is safe to act on: running the command again with the same job_id goes through the O_EXCL
        `started` claim, so even a launch that was somehow still in flight cannot make it run twice.
        """
        job = self._job(job_id)
        if not job.exists():
            return None
        deadline = time.monotonic() + _START_GRACE_S
        # The job may belong to another process (or to nobody): its journal files are all there is to watch.
        while not job.started() and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        if not job.started():
            logger.info("job %s never started", job_id)
            return None
        if await self._abandoned(job):
            logger.info("job %s was claimed but never launched", job_id)
            return None
        return await self._await_job(job, wait_s)

    async def _abandoned(self, job: JobDir) -> bool:
        """A claimed job whose launcher died before the spawn: no pid, no shell ever began, nothing of it alive.

        Running it then is safe, and the only way to keep the tool call exactly-once rather than at-most-once.
        """
        deadline = time.monotonic() + _START_GRACE_S
        while job.pid() is None and not job.began():
            if time.monotonic() >= deadline:
                return not job.alive() and not job.has("relaunched")
            await asyncio.sleep(0.01)
        return False

    async def _await_job(self, job: JobDir, wait_s: float) -> ExecResult:
        """Poll a detached job's journal until it finishes, dies, or `wait_s` runs out (then kill it)."""
        started = time.monotonic()
        delay = 0.002
        while job.exit_code() is None:
            elapsed = time.monotonic() - started
            # Until the pid is journaled (a launch may be in flight), only the marker scan can see the job.
            if not job.alive() and (job.pid() is not None or elapsed > _START_GRACE_S):
                job.write_exit(137, marker="interrupted")  # no-op if it finished between the two checks
                break
            if elapsed >= wait_s:
                job.kill()
                job.write_exit(137, marker="timed_out")
                break
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.1)
        job.end_sandbox()  # the command ended: so do the daemons it left (see _exec_journaled)
        return job.result()

    # ------------------------------------------------------------ background jobs

    async def start_background(self, command: str, *, cwd: str, job_id: str) -> BackgroundJob:
        real_cwd = self._check_cwd(cwd)
        self._launcher.check_ready()
        return await self._background.start(command, real_cwd, job_id)

    async def poll_background(self, job_id: str, *, since: int = 0, wait_s: float = 0.0) -> BackgroundJob:
        return await self._background.poll(job_id, since=since, wait_s=wait_s)

    async def kill_background(self, job_id: str) -> BackgroundJob:
        return await self._background.kill(job_id)

    def prune_jobs(self, *, older_than_s: float = JOB_RETENTION_S) -> int:
        """Delete the journals of jobs that finished more than `older_than_s` ago; returns how many."""
        jobs = os.path.join(self._state_dir, "jobs")
        cutoff = time.time() - older_than_s
        pruned = 0
        for name in os.listdir(jobs):
            exit_file = os.path.join(jobs, name, "exit")
            with contextlib.suppress(OSError):
                if os.path.getmtime(exit_file) < cutoff and JobDir(os.path.join(jobs, name)).exit_code() is not None:
                    shutil.rmtree(os.path.join(jobs, name))
                    pruned += 1
        return pruned

    async def open_terminal(
        self, *, cwd: str, cols: int, rows: int, env: Mapping[str, str] | None = None
    ) -> PtySession:
        """An interactive shell on a pty inside this sandbox (the API's workspace terminal); see terminal.py."""
        real_cwd = self._check_cwd(cwd)
        self._launcher.check_ready()
        return await open_pty(self._launcher, cwd=real_cwd, cols=cols, rows=rows, env=env)

    async def close(self) -> None:
        """Kill every background job and in-flight command this instance started; prune old journals."""
        await self._background.close()
        await self._spares.close()
        await self._launcher.close()
        await asyncio.to_thread(self.prune_jobs)
