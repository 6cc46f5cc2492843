"""LocalSandbox: the Workspace port on this machine, every command inside bubblewrap."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import time
import uuid
from collections.abc import Mapping, Sequence

from dexa.core.errors import SandboxError
from dexa.core.ports import BackgroundJob, ExecResult

from . import bwrap
from .files import WorkspaceFiles
from .journal import JobDir, job_dir_name

logger = logging.getLogger(__name__)

UNSANDBOXED_WARNING = (
    "WARNING: the workspace is UNSANDBOXED. Commands run as plain subprocesses with full access to this machine's "
    "files and network. Use this only for trusted tasks; install bubblewrap (`apt-get install bubblewrap`) to isolate."
)
_warned_unsandboxed = False
# How long recover() waits for a launched job to reach its `started` claim before declaring it abandoned.
_START_GRACE_S = 1.0


def _exit_status(returncode: int | None) -> int:
    if returncode is None:
        return -1
    return 128 - returncode if returncode < 0 else returncode


class LocalSandbox(WorkspaceFiles):
    """Runs commands under bwrap with only the workspace roots writable, no network unless granted, and a
    clean environment. File operations run on the host but refuse anything that resolves outside the roots.

    Journaled runs (`job_id`) live in `state_dir/jobs/<job_id>/` and survive a SIGKILL of the Dexa process.
    """

    def __init__(
        self,
        root: str,
        *,
        extra_roots: Sequence[str] = (),
        network: bool = False,
        unsandboxed: bool = False,
        state_dir: str,
    ) -> None:
        real_root = os.path.realpath(root)
        if not os.path.isdir(real_root):
            raise SandboxError(f"Workspace root {root!r} is not a directory")
        for extra in extra_roots:
            if not os.path.isdir(extra):
                raise SandboxError(f"Extra workspace root {extra!r} is not a directory")
        super().__init__(real_root, tuple(os.path.realpath(p) for p in extra_roots))
        self.network = network
        self.unsandboxed = unsandboxed
        self._state_dir = os.path.realpath(state_dir)
        os.makedirs(os.path.join(self._state_dir, "jobs"), exist_ok=True)
        os.makedirs(os.path.join(self._state_dir, "tmp"), exist_ok=True)
        self._live: dict[int, asyncio.subprocess.Process] = {}
        self._background: dict[str, asyncio.subprocess.Process] = {}
        self._etc_dir: str | None = None
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
    def sandboxed(self) -> bool:
        return not self.unsandboxed

    # ------------------------------------------------------------ launching

    def _check_ready(self) -> None:
        if self.unsandboxed:
            return
        reason = bwrap.probe_bwrap()
        if reason is not None:
            raise SandboxError(bwrap.INSTALL_HINT.format(reason=reason))
        if self._etc_dir is None:
            self._etc_dir = bwrap.prepare_etc(os.path.join(self._state_dir, "etc"), network=self.network)

    def _check_cwd(self, cwd: str) -> str:
        real = os.path.realpath(cwd or self.root)
        if not self.contains(real):
            raise SandboxError(f"Working directory {cwd!r} is outside the workspace roots {list(self.roots)}")
        if not os.path.isdir(real):
            raise SandboxError(f"Working directory {cwd!r} does not exist")
        return real

    def _job(self, job_id: str) -> JobDir:
        return JobDir(os.path.join(self._state_dir, "jobs", job_dir_name(job_id)))

    async def _spawn(
        self, wrapper: str, job: JobDir, command: str, cwd: str, env: Mapping[str, str] | None
    ) -> asyncio.subprocess.Process:
        self._check_ready()
        clean_env = bwrap.sandbox_env(self.root, env)
        inner = bwrap.shell_argv(command)
        if self.unsandboxed:
            argv, popen_cwd = inner, cwd
        else:
            argv = bwrap.bwrap_argv(
                bwrap.find_bwrap() or "bwrap",
                roots=self.roots,
                cwd=cwd,
                env=clean_env,
                network=self.network,
                etc_dir=self._etc_dir or "/nonexistent",
                command=inner,
            )
            popen_cwd = "/"
        # bwrap itself gets the clean env too: inside the PID namespace /proc/1/environ is bwrap's own.
        proc = await asyncio.create_subprocess_exec(
            "/bin/sh",
            "-c",
            wrapper,
            "dexa-job",
            job.path,
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
            env=clean_env,
            cwd=popen_cwd,
            start_new_session=True,
        )
        self._live[proc.pid] = proc
        return proc

    async def _kill_proc(self, proc: asyncio.subprocess.Process) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        await proc.wait()

    async def _wait(self, proc: asyncio.subprocess.Process, timeout_s: float) -> bool:
        """Wait for the process; kill its group on timeout or cancellation. True when it timed out."""
        try:
            await asyncio.wait_for(proc.wait(), timeout=max(0.001, timeout_s))
            return False
        except TimeoutError:
            await self._kill_proc(proc)
            return True
        except asyncio.CancelledError:
            await asyncio.shield(self._kill_proc(proc))
            raise
        finally:
            self._live.pop(proc.pid, None)

    # ------------------------------------------------------------ exec

    async def exec(
        self,
        command: str,
        *,
        cwd: str,
        timeout_s: float = 120.0,
        env: Mapping[str, str] | None = None,
        job_id: str | None = None,
    ) -> ExecResult:
        """Run `command` with bash inside the sandbox.

        Raises:
            SandboxError: bwrap is unusable and unsandboxed mode was not chosen, or cwd is outside the roots.
        """
        real_cwd = self._check_cwd(cwd)
        if job_id is not None:
            return await self._exec_journaled(command, real_cwd, timeout_s, env, job_id)
        job = JobDir(os.path.join(self._state_dir, "tmp", uuid.uuid4().hex))
        os.mkdir(job.path)
        started = time.monotonic()
        try:
            proc = await self._spawn(bwrap.FOREGROUND_WRAPPER, job, command, real_cwd, env)
            timed_out = await self._wait(proc, timeout_s)
            return ExecResult(
                exit_code=_exit_status(proc.returncode),
                stdout=job.read_stream("stdout"),
                stderr=job.read_stream("stderr"),
                timed_out=timed_out,
                cwd=job.cwd(),
                duration_ms=int((time.monotonic() - started) * 1000),
            )
        finally:
            shutil.rmtree(job.path, ignore_errors=True)

    async def _exec_journaled(
        self, command: str, cwd: str, timeout_s: float, env: Mapping[str, str] | None, job_id: str
    ) -> ExecResult:
        job = self._job(job_id)
        if job.started() or job.exit_code() is not None:
            # Exactly once: a second call with the same id reports the first run instead of repeating it.
            return await self._await_job(job, timeout_s)
        job.create({"command": command, "cwd": cwd, "started_at": time.time(), "timeout_s": timeout_s})
        proc = await self._spawn(bwrap.JOURNALED_WRAPPER, job, command, cwd, env)
        try:
            timed_out = await self._wait(proc, timeout_s)
        except asyncio.CancelledError:
            job.write_exit(137, marker="killed")
            raise
        if timed_out:
            job.write_exit(137, marker="timed_out")
        return job.result(default_code=_exit_status(proc.returncode))

    async def recover(self, job_id: str, *, wait_s: float = 600.0) -> ExecResult | None:
        """The result of a journaled run, waiting while it still runs; None when it never started."""
        job = self._job(job_id)
        if not job.exists():
            return None
        if job.exit_code() is None and not job.started():
            deadline = time.monotonic() + _START_GRACE_S
            # The job is another process's child (or nobody's): its journal files are all there is to watch.
            while not job.started() and time.monotonic() < deadline:  # noqa: ASYNC110
                await asyncio.sleep(0.01)
            if job.claim_abandoned():
                logger.info("job %s never started; marked abandoned", job_id)
                return None
        if job.abandoned():
            return None
        return await self._await_job(job, wait_s)

    async def _await_job(self, job: JobDir, wait_s: float) -> ExecResult:
        """Poll a detached job's journal until it finishes, dies, or `wait_s` runs out (then kill it)."""
        if job.abandoned():
            return job.result()
        started = time.monotonic()
        delay = 0.002
        while job.exit_code() is None:
            elapsed = time.monotonic() - started
            pid_known = job.pid() is not None
            if (pid_known and not job.alive()) or (not pid_known and elapsed > _START_GRACE_S):
                if job.exit_code() is None:  # it may have finished between the two checks
                    job.write_exit(137, marker="killed")
                break
            if elapsed >= wait_s:
                job.kill()
                job.write_exit(137, marker="timed_out")
                break
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.1)
        return job.result()

    # ------------------------------------------------------------ background jobs

    async def start_background(self, command: str, *, cwd: str, job_id: str) -> BackgroundJob:
        real_cwd = self._check_cwd(cwd)
        job = self._job(job_id)
        if job.started() or job_id in self._background:
            return await self.poll_background(job_id)
        job.create({"command": command, "cwd": real_cwd, "started_at": time.time(), "background": True})
        proc = await self._spawn(bwrap.BACKGROUND_WRAPPER, job, command, real_cwd, None)
        self._live.pop(proc.pid, None)  # tracked as a background job instead
        self._background[job_id] = proc
        return BackgroundJob(job_id=job_id, command=command, running=True, exit_code=None, output="")

    def _bg_running(self, job_id: str, job: JobDir) -> bool:
        if job.exit_code() is not None or job.abandoned():
            return False
        proc = self._background.get(job_id)
        if proc is not None:
            return proc.returncode is None
        return job.alive()

    async def poll_background(self, job_id: str, *, since: int = 0, wait_s: float = 0.0) -> BackgroundJob:
        job = self._job(job_id)
        if not job.exists():
            raise SandboxError(f"No background job with id {job_id!r}")
        proc = self._background.get(job_id)
        if wait_s > 0 and self._bg_running(job_id, job):
            if proc is not None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(proc.wait()), timeout=wait_s)
            else:
                deadline = time.monotonic() + wait_s
                while self._bg_running(job_id, job) and time.monotonic() < deadline:  # noqa: ASYNC110
                    await asyncio.sleep(0.05)
        running = self._bg_running(job_id, job)
        if not running and job.exit_code() is None and not job.abandoned():
            job.write_exit(137, marker="killed")
        output, offset = job.read_from("stdout", since, final=not running)
        return BackgroundJob(
            job_id=job_id,
            command=str(job.meta().get("command", "")),
            running=running,
            exit_code=job.exit_code(),
            output=output,
            output_offset=offset,
        )

    async def kill_background(self, job_id: str) -> BackgroundJob:
        job = self._job(job_id)
        if not job.exists():
            raise SandboxError(f"No background job with id {job_id!r}")
        proc = self._background.get(job_id)
        if self._bg_running(job_id, job):
            if proc is not None:
                await self._kill_proc(proc)
            else:
                job.kill()
            job.write_exit(137, marker="killed")
        return await self.poll_background(job_id)

    async def close(self) -> None:
        """Kill every background job and in-flight command this instance started."""
        for job_id, proc in list(self._background.items()):
            if proc.returncode is None:
                await self._kill_proc(proc)
                self._job(job_id).write_exit(137, marker="killed")
        for proc in list(self._live.values()):
            if proc.returncode is None:
                await self._kill_proc(proc)
        self._background.clear()
        self._live.clear()
