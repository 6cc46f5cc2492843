"""Resource limits of one session's sandbox, and the rlimit fallback used where no cgroup is available."""

from __future__ import annotations

import os
from dataclasses import dataclass

GIB = 1 << 30


def _default_cpus() -> float:
    # Leave one core to the control plane, so a busy session never makes the server unresponsive.
    return float(max(1, (os.cpu_count() or 2) - 1))


@dataclass(frozen=True, slots=True, kw_only=True)
class SandboxLimits:
    """What one session's commands may use together (cgroup) or, without cgroups, each process (rlimits).

    Attributes:
        pids: processes and threads alive at once in the session (a fork bomb stops here).
        memory_bytes: RAM of the whole session, /tmp's tmpfs pages included; beyond it the kernel OOM-kills
            inside the session, never the server.
        tmp_bytes: size of the private /tmp tmpfs of each command.
        cpus: CPU bandwidth of the session, in cores (None: all cores but one).
        cpu_time_s: CPU seconds per process (RLIMIT_CPU), a backstop for a runaway loop.
        file_size_bytes: largest file a command may write (RLIMIT_FSIZE).
    """

    pids: int = 512
    memory_bytes: int = 4 * GIB
    tmp_bytes: int = 1 * GIB
    cpus: float | None = None
    cpu_time_s: int = 3600
    file_size_bytes: int = 16 * GIB

    def effective_cpus(self) -> float:
        return self.cpus if self.cpus is not None else _default_cpus()


def rlimit_prologue(limits: SandboxLimits, *, with_cgroup: bool) -> str:
    """`ulimit` commands for the host-side launch shell; bwrap and everything below inherit them.

    With a cgroup only the per-process backstops are set: RLIMIT_AS would break runtimes that reserve large
    virtual areas (V8, the JVM, Go), and the cgroup already bounds real memory. Without one, RLIMIT_AS stands
    in for the memory limit, and RLIMIT_NPROC for the pids limit when it can work: it counts every process of
    the real uid (so the uid's current count is added) and root ignores it entirely.
    """
    kib = 1024
    # POSIX fixes -f in 512-byte blocks and -t in seconds for every sh; -v is KiB in dash, bash and busybox.
    parts = [f"ulimit -t {limits.cpu_time_s}", f"ulimit -f {limits.file_size_bytes // 512}", "ulimit -c 0"]
    if not with_cgroup:
        parts.append(f"ulimit -v {limits.memory_bytes // kib}")
        if os.getuid() != 0:
            parts.append(f"ulimit {_nproc_flag()} {_uid_process_count() + limits.pids}")
    return " && ".join(parts)


def _nproc_flag() -> str:
    # POSIX leaves the process-count flag open: dash spells it -p, bash and busybox -u.
    return "-p" if os.path.basename(os.path.realpath("/bin/sh")) == "dash" else "-u"


def _uid_process_count() -> int:
    uid = os.getuid()
    count = 0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.stat(f"/proc/{entry}").st_uid == uid:
                    count += 1
            except OSError:
                continue
    return count
