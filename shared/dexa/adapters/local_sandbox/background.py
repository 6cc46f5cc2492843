"""Background jobs (Bash `run_in_background`): detached, journaled commands that outlive the call that started them.

A job this process launched is watched through its Process; one left by an earlier process (a resumed session) is
watched through its journal alone, so polling and killing work the same after a SIGKILL of Dexa.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable

from dexa.core.errors import SandboxError
from dexa.core.ports import BackgroundJob

from .journal import JobDir
from .launch import Launcher, Process, exit_status

# Launches a journaled job with merged output; None when its `started` claim was already taken.
LaunchJob = Callable[[JobDir, str, str], Awaitable[Process | None]]


class BackgroundJobs:
    def __init__(self, launcher: Launcher, job_for: Callable[[str], JobDir], launch: LaunchJob) -> None:
        self._launcher = launcher
        self._job = job_for
        self._launch = launch
        self._procs: dict[str, Process] = {}

    async def start(self, command: str, cwd: str, job_id: str) -> BackgroundJob:
        job = self._job(job_id)
        proc = None if job.started() else await self._launch(job, command, cwd)
        if proc is None:
            return await self.poll(job_id)
        self._launcher.live.pop(proc.pid, None)  # owned as a background job, not an in-flight command
        self._procs[job_id] = proc
        return BackgroundJob(job_id=job_id, command=command, running=True, exit_code=None, output="")

    def _running(self, job_id: str, job: JobDir) -> bool:
        if job.exit_code() is not None:
            return False
        proc = self._procs.get(job_id)
        if proc is not None:
            return proc.returncode is None
        return job.alive()

    def _finish(self, job_id: str, job: JobDir) -> None:
        proc = self._procs.get(job_id)
        if proc is not None and proc.returncode is not None:
            job.write_exit(exit_status(proc.returncode))
        elif job.exit_code() is None:
            job.write_exit(137, marker="killed")

    def _existing(self, job_id: str) -> JobDir:
        job = self._job(job_id)
        if not job.exists():
            raise SandboxError(f"No background job with id {job_id!r}")
        return job

    async def poll(self, job_id: str, *, since: int = 0, wait_s: float = 0.0) -> BackgroundJob:
        job = self._existing(job_id)
        proc = self._procs.get(job_id)
        if wait_s > 0 and self._running(job_id, job):
            if proc is not None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(proc.wait()), timeout=wait_s)
            else:
                deadline = time.monotonic() + wait_s
                while self._running(job_id, job) and time.monotonic() < deadline:  # noqa: ASYNC110
                    await asyncio.sleep(0.05)
        running = self._running(job_id, job)
        if not running:
            self._finish(job_id, job)
        output, offset = job.read_from("stdout", since, final=not running)
        return BackgroundJob(
            job_id=job_id,
            command=str(job.meta().get("command", "")),
            running=running,
            exit_code=job.exit_code(),
            output=output,
            output_offset=offset,
        )

    async def kill(self, job_id: str) -> BackgroundJob:
        job = self._existing(job_id)
        if self._running(job_id, job):
            proc = self._procs.get(job_id)
            if proc is not None:
                await self._launcher.kill(proc, job.marker)
            else:
                job.kill()
            job.write_exit(137, marker="killed")
        return await self.poll(job_id)

    async def close(self) -> None:
        """Kill every job this instance started, and the daemons of those whose shell already exited."""
        for job_id, proc in list(self._procs.items()):
            job = self._job(job_id)
            if proc.returncode is None:
                await self._launcher.kill(proc, job.marker)
                job.write_exit(137, marker="killed")
            job.end_sandbox()
        self._procs.clear()
