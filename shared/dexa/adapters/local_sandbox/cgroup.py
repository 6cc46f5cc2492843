"""One cgroup per session: pids, memory and CPU limits for everything its commands start, and a sure kill.

cgroup v2 (one unified hierarchy, production Linux) and v1 (one hierarchy per controller, this VM) are both
supported. The cgroup is created once per session; a command joins it through its host-side launch shell
(`echo 0 > cgroup.procs` before exec'ing bwrap), so every process of the command is born inside it.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import signal
import time
import uuid
from dataclasses import dataclass

from .limits import SandboxLimits

logger = logging.getLogger(__name__)

_CONTROLLERS = ("pids", "memory", "cpu")
_PERIOD_US = 100_000


@dataclass(frozen=True, slots=True)
class CgroupSupport:
    """Where session cgroups are created: v2 has one parent, v1 one parent per controller."""

    version: int
    parents: dict[str, str]  # controller -> directory under which session cgroups go (v2: one shared dir)


def _mounts() -> list[tuple[str, str, str, str]]:
    """(root inside the hierarchy, mount point, fstype, super options) of every cgroup mount."""
    found = []
    with open("/proc/self/mountinfo") as fh:
        for line in fh:
            left, _, right = line.partition(" - ")
            fields, rest = left.split(), right.split()
            if len(fields) > 4 and len(rest) > 2 and rest[0] in ("cgroup", "cgroup2"):
                found.append((fields[3], fields[4], rest[0], rest[2]))
    return found


def _own_paths() -> dict[str, str]:
    """This process's cgroup per controller ('' is the v2 hierarchy)."""
    paths = {}
    with open("/proc/self/cgroup") as fh:
        for line in fh:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            for name in controllers.split(",") if controllers else [""]:
                paths[name] = path
    return paths


def _join(mount_root: str, mount_point: str, path: str) -> str:
    rel = path[len(mount_root) :] if mount_root != "/" and path.startswith(mount_root) else path
    return os.path.join(mount_point, rel.lstrip("/"))


def _probe_v2(own: dict[str, str]) -> CgroupSupport | None:
    for root, point, fstype, _ in _mounts():
        if fstype != "cgroup2" or "" not in own:
            continue
        parent = _join(root, point, own[""])
        try:
            with open(os.path.join(parent, "cgroup.controllers")) as fh:
                available = fh.read().split()
        except OSError:
            continue
        if not set(_CONTROLLERS) <= set(available):
            continue
        try:
            _write(os.path.join(parent, "cgroup.subtree_control"), " ".join(f"+{c}" for c in _CONTROLLERS))
        except OSError as exc:
            # EBUSY when our own cgroup holds processes and is not the root (v2's no-internal-process rule):
            # run Dexa in a delegated cgroup (systemd `Delegate=yes`) with the server in a leaf of its own.
            logger.warning("cannot enable %s below %s: %s", "+".join(_CONTROLLERS), parent, exc)
            continue
        return CgroupSupport(2, dict.fromkeys(_CONTROLLERS, parent))
    return None


def _probe_v1(own: dict[str, str]) -> CgroupSupport | None:
    parents: dict[str, str] = {}
    for root, point, fstype, options in _mounts():
        if fstype != "cgroup":
            continue
        for controller in _CONTROLLERS:
            if controller in options.split(",") and controller in own and controller not in parents:
                parents[controller] = _join(root, point, own[controller])
    return CgroupSupport(1, parents) if set(parents) == set(_CONTROLLERS) else None


def _owner_alive(name: str) -> bool:
    """Session cgroups are named dexa-<owner pid>-<id>: a live owner may not have moved its command in yet."""
    pid_text = name.split("-")[1] if name.count("-") >= 2 else ""
    if not pid_text.isdigit():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _sweep_leftovers(support: CgroupSupport) -> None:
    """Remove empty session cgroups a crashed Dexa left behind (rmdir refuses any that still hold processes).

    Another live Dexa process's fresh, still-empty cgroup is not a leftover: sweeping it broke that process's
    next command ("cgroup.procs: Directory nonexistent")."""
    for parent in set(support.parents.values()):
        with contextlib.suppress(OSError):
            for name in os.listdir(parent):
                if name.startswith("dexa-") and not _owner_alive(name):
                    with contextlib.suppress(OSError):
                        os.rmdir(os.path.join(parent, name))


@functools.cache
def probe_cgroups() -> CgroupSupport | None:
    """Where session cgroups can be made (cached per process); None when cgroups are not usable here."""
    try:
        own = _own_paths()
        support = _probe_v2(own) or _probe_v1(own)
    except OSError as exc:
        logger.warning("cgroups unusable (%s); sandbox limits fall back to rlimits", exc)
        return None
    if support is None:
        logger.warning("no writable pids+memory+cpu cgroups; sandbox limits fall back to rlimits")
        return None
    _sweep_leftovers(support)
    return support


def _write(path: str, value: str) -> None:
    with open(path, "w") as fh:
        fh.write(value)


class SessionCgroup:
    """The cgroup (v2) or cgroups (v1, one per controller) of one session."""

    def __init__(self, support: CgroupSupport, dirs: dict[str, str]) -> None:
        self.version = support.version
        self._dirs = dirs

    @classmethod
    def create(cls, limits: SandboxLimits) -> SessionCgroup | None:
        """A new session cgroup with `limits` applied, or None (logged) when cgroups are unusable."""
        support = probe_cgroups()
        if support is None:
            return None
        name = f"dexa-{os.getpid()}-{uuid.uuid4().hex[:12]}"
        dirs = {c: os.path.join(parent, name) for c, parent in support.parents.items()}
        group = cls(support, dirs)
        try:
            for path in set(dirs.values()):
                os.mkdir(path, 0o755)
            group._apply(limits)
        except OSError as exc:
            logger.warning("could not set up the session cgroup (%s); falling back to rlimits", exc)
            group.remove()
            return None
        return group

    def _apply(self, limits: SandboxLimits) -> None:
        quota = int(limits.effective_cpus() * _PERIOD_US)
        pids, memory, cpu = (self._dirs[c] for c in _CONTROLLERS)
        _write(os.path.join(pids, "pids.max"), str(limits.pids))
        if self.version == 2:
            _write(os.path.join(memory, "memory.max"), str(limits.memory_bytes))
            with contextlib.suppress(FileNotFoundError):  # no swap accounting: nothing to forbid
                _write(os.path.join(memory, "memory.swap.max"), "0")
            _write(os.path.join(cpu, "cpu.max"), f"{quota} {_PERIOD_US}")
            return
        _write(os.path.join(memory, "memory.limit_in_bytes"), str(limits.memory_bytes))
        with contextlib.suppress(FileNotFoundError):  # memsw must not be below the RAM limit: set it second
            _write(os.path.join(memory, "memory.memsw.limit_in_bytes"), str(limits.memory_bytes))
        _write(os.path.join(cpu, "cpu.cfs_period_us"), str(_PERIOD_US))
        _write(os.path.join(cpu, "cpu.cfs_quota_us"), str(quota))

    @property
    def procs_files(self) -> tuple[str, ...]:
        """The cgroup.procs files a launched process writes `0` into to join the session."""
        return tuple(os.path.join(d, "cgroup.procs") for d in dict.fromkeys(self._dirs.values()))

    def pids(self) -> list[int]:
        try:
            with open(os.path.join(self._dirs["pids"], "cgroup.procs")) as fh:
                return [int(line) for line in fh if line.strip()]
        except OSError:
            return []

    def kill_all(self, timeout_s: float = 5.0) -> bool:
        """SIGKILL every process of the session; True once none is left."""
        kill_file = os.path.join(self._dirs["pids"], "cgroup.kill")
        if self.version == 2 and os.path.exists(kill_file):
            with contextlib.suppress(OSError):
                _write(kill_file, "1")
        deadline = time.monotonic() + timeout_s
        while pids := self.pids():
            # The pids limit bounds how many can appear between two sweeps, so this converges fast.
            for pid in pids:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
            if time.monotonic() > deadline:
                return False
            time.sleep(0.002)
        return True

    def remove(self) -> None:
        """Delete the cgroup; the kernel refuses while a dying process is still in it, so retry briefly."""
        for path in dict.fromkeys(self._dirs.values()):
            for _ in range(100):
                try:
                    os.rmdir(path)
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.01)
