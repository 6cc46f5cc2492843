"""Launching, waiting for and killing sandboxed processes (one spawn per command: bwrap -> bash)."""

from __future__ import annotations

import asyncio
import os
import shlex
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from dexa.core.errors import SandboxError

from . import bwrap, egress
from .cgroup import SessionCgroup
from .controlfiles import control_mounts
from .journal import kill_group, kill_marked
from .limits import SandboxLimits, rlimit_prologue
from .process import SandboxProcess, spawn

Process = SandboxProcess


@dataclass(frozen=True, slots=True)
class Plan:
    """One launch, worked out: the command line, its working directory, environment and inherited descriptors."""

    argv: list[str]
    cwd: str
    env: dict[str, str]
    pass_fds: tuple[int, ...]
    bridge: egress.SessionBridge | None


# A runaway `yes` must not fill RAM (memfds) or the disk: past this much output the command is killed.
MAX_OUTPUT_BYTES = 64 << 20
_WATCH_INTERVAL_S = 0.25


def exit_status(returncode: int | None) -> int:
    """A shell-style status: 128 + signal number for a process killed by a signal."""
    if returncode is None:
        return -1
    return 128 - returncode if returncode < 0 else returncode


class Launcher:
    """Builds the command line for one command and owns the processes it started.

    Per session, created on first use: a cgroup with the limits (else rlimits in the launch shell) and, with
    an egress socket, the network namespace whose only way out is the bridge to it. Per command, the launch
    is `sh -c 'join the cgroup; ulimit ...; exec "$@"' [nsenter --net=<session ns>] bwrap ... bash`.
    """

    def __init__(
        self,
        *,
        roots: Sequence[str],
        home: str,
        unsandboxed: bool,
        etc_cache: str,
        limits: SandboxLimits | None = None,
        egress_socket: str | None = None,
    ) -> None:
        self.roots = tuple(roots)
        self.home = home
        self.unsandboxed = unsandboxed
        self.limits = limits or SandboxLimits()
        self.egress_socket = egress.check_socket(egress_socket) if egress_socket else None
        self._etc_cache = etc_cache
        self._etc_dir: str | None = None
        self._cgroup: SessionCgroup | None = None
        self._prologue: str | None = None
        self._bridge: egress.SessionBridge | None = None
        self._bridge_lock = asyncio.Lock()
        self.live: dict[int, tuple[Process, str]] = {}

    @property
    def cgroup(self) -> SessionCgroup | None:
        return self._cgroup

    def check_ready(self) -> None:
        """Raises SandboxError (with the install hint) when bwrap is unusable and unsandboxed mode is off."""
        if self._prologue is None:
            self._cgroup = SessionCgroup.create(self.limits)
            joins = [f"echo 0 >{shlex.quote(path)}" for path in self._cgroup.procs_files] if self._cgroup else []
            ulimits = rlimit_prologue(self.limits, with_cgroup=self._cgroup is not None)
            self._prologue = " && ".join([*joins, ulimits, 'exec "$@"'])
        if self.unsandboxed:
            return
        reason = bwrap.probe_ready()
        if reason is not None:
            raise SandboxError(bwrap.INSTALL_HINT.format(reason=reason))
        if self.egress_socket is not None:
            egress.find_socat()  # fail now, with the install hint, rather than inside every command
        if self._etc_dir is None:
            self._etc_dir = bwrap.prepare_etc(self._etc_cache, network=False)

    async def _session_bridge(self) -> egress.SessionBridge | None:
        if self.egress_socket is None or self.unsandboxed or not egress.can_join_netns():
            return None
        async with self._bridge_lock:
            if self._bridge is None:
                bridge = egress.SessionBridge(self.egress_socket)
                await bridge.start(bwrap.find_bwrap() or "bwrap")
                self._bridge = bridge
        return self._bridge

    def inner_argv(self, command: str, fds: tuple[int, int | None], bridge: egress.SessionBridge | None) -> list[str]:
        """What runs inside bwrap: bash with the reporting trap (and, without a session bridge, the inline one)."""
        prologue = egress.inline_bridge_prologue() if self.egress_socket is not None and bridge is None else ""
        return bwrap.shell_argv(command, cwd_fd=fds[0], exit_fd=fds[1], prologue=prologue)

    def _argv(
        self,
        command: str,
        cwd: str,
        env: Mapping[str, str],
        marker: str,
        fds: tuple[int, int | None],
        detached: bool,
        bridge: egress.SessionBridge | None,
        info_fd: int | None = None,
        inner: Sequence[str] | None = None,
    ) -> tuple[list[str], str]:
        launch_shell = ["/bin/sh", "-c", self._prologue or 'exec "$@"', "sh"]
        if self.unsandboxed:
            return [*launch_shell, *bwrap.shell_argv(command, cwd_fd=fds[0], exit_fd=fds[1])], cwd
        mounts = control_mounts(self.roots)
        if self.egress_socket is not None and bridge is None:
            mounts += ["--ro-bind", self.egress_socket, egress.SANDBOX_SOCKET]
        if inner is None:
            inner = self.inner_argv(command, fds, bridge)
        argv = bwrap.bwrap_argv(
            bwrap.find_bwrap() or "bwrap",
            roots=self.roots,
            cwd=cwd,
            env=env,
            etc_dir=self._etc_dir or "/nonexistent",
            hostname=marker,
            die_with_parent=not detached,
            join_netns=bridge is not None,
            tmp_bytes=self.limits.tmp_bytes,
            extra_mounts=mounts,
            info_fd=info_fd,
            command=list(inner),
        )
        enter = bridge.enter_argv() if bridge is not None else []
        return [*launch_shell, *enter, *argv], "/"

    async def plan(
        self,
        command: str,
        *,
        cwd: str,
        env: Mapping[str, str] | None,
        marker: str,
        cwd_fd: int,
        exit_fd: int | None = None,
        detached: bool = False,
        info_fd: int | None = None,
        inner: Sequence[str] | None = None,
    ) -> Plan:
        """Everything a launch hands the kernel, worked out without spawning (`inner` replaces the in-sandbox
        command line; spare.py compares plans to know whether a sandbox started earlier fits a command)."""
        self.check_ready()
        bridge = await self._session_bridge()
        base_env = {**egress.proxy_env(), **(env or {})} if self.egress_socket else env
        clean_env = bwrap.sandbox_env(self.home, base_env)
        pass_fds = (cwd_fd,) if exit_fd is None else (cwd_fd, exit_fd)
        if bridge is not None and bridge.netns_fd is not None:
            pass_fds += (bridge.netns_fd,)
        if info_fd is not None and not self.unsandboxed:
            pass_fds += (info_fd,)
        argv, popen_cwd = self._argv(
            command, cwd, clean_env, marker, (cwd_fd, exit_fd), detached, bridge, info_fd=info_fd, inner=inner
        )
        return Plan(argv=argv, cwd=popen_cwd, env=clean_env, pass_fds=pass_fds, bridge=bridge)

    async def launch(
        self,
        command: str,
        *,
        cwd: str,
        env: Mapping[str, str] | None,
        marker: str,
        stdout: int,
        stderr: int,
        cwd_fd: int,
        exit_fd: int | None = None,
        detached: bool = False,
        stdin: int | None = None,
        info_fd: int | None = None,
    ) -> Process:
        """Start `command`. Detached processes outlive Dexa (journaled and background jobs); the others die
        with it. Either way the process leads its own group, so killpg reaches everything outside bwrap's
        own session, and a Ctrl-C in Dexa's terminal does not hit it. `info_fd` receives the sandbox init's pid
        (bwrap --info-fd; nothing when unsandboxed): killing that one process ends the whole sandbox."""
        plan = await self.plan(
            command,
            cwd=cwd,
            env=env,
            marker=marker,
            cwd_fd=cwd_fd,
            exit_fd=exit_fd,
            detached=detached,
            info_fd=info_fd,
        )
        return self.start(plan, marker=marker, stdin=stdin, stdout=stdout, stderr=stderr)

    def start(
        self,
        plan: Plan,
        *,
        marker: str,
        stdout: int,
        stderr: int,
        stdin: int | None = None,
        extra_fds: Sequence[int] = (),
    ) -> Process:
        """Spawn a planned launch and track it until it is waited for or killed."""
        # bwrap itself gets the clean env too: inside the PID namespace /proc/1/environ is bwrap's own. The spawn is
        # synchronous (as inside asyncio's), so no cancellation can land between it and the job being tracked.
        proc = spawn(
            plan.argv,
            stdin=stdin,
            stdout=stdout,
            stderr=stderr,
            pass_fds=(*plan.pass_fds, *extra_fds),
            cwd=plan.cwd,
            env=plan.env,
        )
        self.live[proc.pid] = (proc, marker)
        return proc

    async def kill(self, proc: Process, marker: str) -> None:
        kill_group(proc.pid, marker)
        await proc.wait()
        # Once bwrap's monitor is reaped it can clone nothing more; sweep until nothing carrying the job's marker
        # is left, which also catches a sandbox created while the first sweep ran.
        for _ in range(50):
            if not kill_marked(marker):
                break
            await asyncio.sleep(0.01)

    async def wait(
        self, proc: Process, marker: str, timeout_s: float, *, output_size: Callable[[], int] | None = None
    ) -> str | None:
        """Wait for the process; kill it on timeout, on too much output, or on cancellation.

        Returns None when it exited by itself, else "timeout" or "output_limit".
        """
        deadline = asyncio.get_running_loop().time() + max(0.001, timeout_s)
        waiter = asyncio.ensure_future(proc.wait())
        try:
            while True:
                remaining = deadline - asyncio.get_running_loop().time()
                if remaining <= 0:
                    await self.kill(proc, marker)
                    return "timeout"
                try:
                    await asyncio.wait_for(asyncio.shield(waiter), timeout=min(remaining, _WATCH_INTERVAL_S))
                    return None
                except TimeoutError:
                    if output_size is not None and output_size() > MAX_OUTPUT_BYTES:
                        await self.kill(proc, marker)
                        return "output_limit"
        except asyncio.CancelledError:
            await asyncio.shield(self.kill(proc, marker))
            raise
        finally:
            waiter.cancel()
            self.live.pop(proc.pid, None)

    async def close(self) -> None:
        """Kill every process of the session (the cgroup also catches what escaped a marker sweep)."""
        for proc, marker in list(self.live.values()):
            if proc.returncode is None:
                await self.kill(proc, marker)
        self.live.clear()
        if self._cgroup is not None:
            await asyncio.to_thread(self._cgroup.kill_all)
            await asyncio.to_thread(self._cgroup.remove)
            self._cgroup = None
            self._prologue = None
        if self._bridge is not None:
            await self._bridge.close()
            self._bridge = None


def open_job_files(path: str, names: Sequence[str]) -> list[int]:
    """Create (truncate) the job's output files and return their descriptors, close-on-exec in Dexa."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC
    return [os.open(os.path.join(path, name), flags, 0o644) for name in names]
