"""The bubblewrap command line, the in-sandbox shell, the private /etc, and the startup probe.

A launch is ONE spawn: Dexa -> bwrap -> bash. No wrapper shell and no Python in the sandbox (on this VM
every extra process costs ~3 ms of CPU); bash itself reports the final cwd and exit status through
descriptors Dexa hands it.
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import subprocess
import threading
import uuid
from collections.abc import Mapping, Sequence

from dexa.toolchain import BIN_DIR as TOOLCHAIN_BIN
from dexa.toolchain import SANDBOX_BIN

# /opt/dexa/bin holds check-tools (dexa.toolchain): the same command, at the same place, as in the Modal image.
SANDBOX_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/opt/dexa/bin"

# System trees bound read-only (or recreated as symlinks on merged-/usr hosts such as Debian 12).
_SYSTEM_TREES = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")

# Only the /etc files programs need to run; /etc/shadow, ssh keys and /etc/ssl/private stay invisible.
_ETC_FILES = (
    "/etc/passwd",
    "/etc/group",
    "/etc/nsswitch.conf",
    "/etc/ld.so.cache",
    "/etc/localtime",
    "/etc/ssl/openssl.cnf",
    "/etc/mime.types",
    "/etc/protocols",
    "/etc/services",
    "/etc/hosts",
)
# Directories of symlinks are bound live on top of the copy (copying hundreds of symlinks is slow).
_ETC_DIRS = ("/etc/alternatives", "/etc/ssl/certs")
# Name resolution only matters when the sandbox has a network.
_ETC_NETWORK_FILES = ("/etc/resolv.conf", "/etc/host.conf", "/etc/gai.conf")

INSTALL_HINT = (
    "Commands run inside bubblewrap, which is not usable here: {reason}. "
    "Install it with `apt-get install bubblewrap` (and make sure unprivileged user namespaces are allowed), "
    "or opt into running commands WITHOUT isolation (LocalSandbox(unsandboxed=True), `dexa run --unsandboxed`)."
)

# The user's command runs in bash so `[[`, arrays and `source` work as models expect. The EXIT trap reports
# the final directory (so `cd` carries over to the next call) and, for journaled jobs, the exit status, so
# a job that outlives a Dexa crash still leaves its result behind. Bash keeps the command's exit status.
# The blank line written first says "the shell began": a journaled job whose launcher died between its claim and
# the spawn has none, so a recovering process knows it is safe to launch it (see LocalSandbox._abandoned).
_TRAP = "trap '__dexa_rc=$?; pwd -P >&{cwd_fd} 2>/dev/null{exit_part}' EXIT; echo >&{cwd_fd} 2>/dev/null; "
_EXIT_PART = "; echo $__dexa_rc >&{exit_fd} 2>/dev/null"


def find_bwrap() -> str | None:
    """The bwrap binary, looked up in the usual system places only (never a user-writable PATH entry)."""
    for candidate in ("/usr/bin/bwrap", "/usr/local/bin/bwrap", "/bin/bwrap"):
        if os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("bwrap", path="/usr/bin:/bin:/usr/local/bin")


def find_shell() -> str:
    return "/bin/bash" if os.access("/bin/bash", os.X_OK) else "/bin/sh"


def shell_argv(command: str, *, cwd_fd: int, exit_fd: int | None = None, prologue: str = "") -> list[str]:
    """The in-sandbox command: bash running the user's command with the reporting trap (and `prologue` first)."""
    shell = find_shell()
    exit_part = _EXIT_PART.format(exit_fd=exit_fd) if exit_fd is not None else ""
    script = _TRAP.format(cwd_fd=cwd_fd, exit_part=exit_part) + prologue + command
    if shell.endswith("bash"):
        return [shell, "--noprofile", "--norc", "-c", script]
    return [shell, "-c", script]


def sandbox_env(home: str, extra: Mapping[str, str] | None) -> dict[str, str]:
    """The only environment a sandboxed command sees. Never derived from os.environ."""
    env = {"PATH": SANDBOX_PATH, "HOME": home, "LANG": "C.UTF-8", "TERM": "dumb", "TMPDIR": "/tmp"}
    if extra:
        env.update({str(k): str(v) for k, v in extra.items()})
    return env


@functools.cache
def _system_args() -> tuple[str, ...]:
    """Binds (or symlinks) of the system trees: the host's layout is read once per process, not per launch."""
    args: list[str] = []
    for tree in _SYSTEM_TREES:
        if os.path.islink(tree):
            args += ["--symlink", os.readlink(tree), tree]
        elif os.path.isdir(tree):
            args += ["--ro-bind", tree, tree]
    return tuple(args)


def prepare_etc(cache_dir: str, *, network: bool) -> str:
    """A private copy of the selected /etc files, bound as the sandbox's /etc with one mount.

    Binding each file separately costs a mount per file (measured: ~2.7 ms per launch for 16 files). The copy is
    keyed by the sources' names, sizes and mtimes, so it is rebuilt only when the host's files change.
    """
    names = _ETC_FILES + (_ETC_NETWORK_FILES if network else ())
    present = [n for n in names if os.path.exists(n)]
    stamp = hashlib.sha256()
    for name in present:
        st = os.stat(name)
        stamp.update(f"{name}:{st.st_size}:{st.st_mtime_ns}\n".encode())
    target = os.path.join(cache_dir, stamp.hexdigest()[:20])
    if os.path.isdir(target):
        return target
    os.makedirs(cache_dir, exist_ok=True)
    tmp = os.path.join(cache_dir, f".build-{uuid.uuid4().hex}")
    for name in present:
        dest = os.path.join(tmp, os.path.relpath(name, "/etc"))
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        shutil.copyfile(name, dest)  # follows symlinks: /etc/resolv.conf may point into /run
    for name in _ETC_DIRS:
        os.makedirs(os.path.join(tmp, os.path.relpath(name, "/etc")), exist_ok=True)  # mount points
    try:
        os.rename(tmp, target)
    except OSError:  # another process built the same copy first
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def bwrap_argv(
    bwrap: str,
    *,
    roots: Sequence[str],
    cwd: str,
    env: Mapping[str, str],
    etc_dir: str,
    hostname: str,
    command: Sequence[str],
    die_with_parent: bool = True,
    join_netns: bool = False,
    tmp_bytes: int | None = None,
    extra_mounts: Sequence[str] = (),
    info_fd: int | None = None,
) -> list[str]:
    """The full bwrap invocation for one command.

    Roots are bound read-write at their own absolute paths, after the fresh /tmp, so a workspace that lives
    under /tmp on the host is still visible (bwrap creates the mount points inside the tmpfs). `extra_mounts`
    (the read-only control files, the egress socket) come last so they cover the roots' binds.

    The host network is never shared: without `join_netns` bwrap makes a namespace with only `lo`; with it
    the command stays in the namespace it was started in, the session's egress namespace (see egress.py).
    With `info_fd` bwrap writes {"child-pid": <host pid of the sandbox's init>} there as soon as it has cloned it.
    """
    # The hostname doubles as the job's marker in bwrap's command line on the host: it finds (and kills) a
    # detached job's sandbox, and one orphaned by a kill during bwrap's own setup, before PDEATHSIG is armed.
    if join_netns:
        unshare = ["--unshare-user-try", "--unshare-ipc", "--unshare-pid", "--unshare-uts", "--unshare-cgroup-try"]
    else:
        unshare = ["--unshare-all"]
    args = [bwrap, *unshare, "--hostname", hostname]
    # Foreground commands die with Dexa; journaled and background ones must outlive a Dexa crash.
    if die_with_parent:
        args.append("--die-with-parent")
    if info_fd is not None:
        args += ["--info-fd", str(info_fd)]
    args += ["--new-session", "--cap-drop", "ALL", "--clearenv"]
    for key, value in env.items():
        args += ["--setenv", key, value]
    args += _system_args()
    args += ["--ro-bind", etc_dir, "/etc"]
    for name in _ETC_DIRS:
        args += ["--ro-bind-try", name, name]
    args += ["--ro-bind-try", str(TOOLCHAIN_BIN), SANDBOX_BIN]
    args += ["--proc", "/proc", "--dev", "/dev"]
    if tmp_bytes is not None:
        args += ["--size", str(tmp_bytes)]
    args += ["--tmpfs", "/tmp"]
    for root in roots:
        args += ["--bind", root, root]
    args += [*extra_mounts, "--chdir", cwd, "--", *command]
    return args


_warming: threading.Thread | None = None


def warm_probe() -> None:
    """Start the startup probe on a thread now: its bwrap runs on another CPU while the session gets ready, and the
    first command finds the answer waiting (see probe_ready)."""
    global _warming
    if _warming is None and probe_bwrap.cache_info().currsize == 0:
        _warming = threading.Thread(target=probe_bwrap, name="dexa-bwrap-probe", daemon=True)
        _warming.start()


def probe_ready() -> str | None:
    """probe_bwrap(), after a probe warm_probe() started has finished (so bwrap is never probed twice at once)."""
    if _warming is not None:
        _warming.join()
    return probe_bwrap()


@functools.cache
def probe_bwrap() -> str | None:
    """None when bwrap can start a sandbox here, else a human-readable reason (cached per process)."""
    bwrap = find_bwrap()
    if bwrap is None:
        return "bwrap is not installed"
    probe = [bwrap, "--unshare-all", "--die-with-parent", "--cap-drop", "ALL", *_system_args(), "--", "/bin/true"]
    try:
        done = subprocess.run(probe, capture_output=True, timeout=10, env={}, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bwrap could not start ({exc})"
    if done.returncode != 0:
        detail = done.stderr.decode(errors="replace").strip() or f"exit code {done.returncode}"
        return f"bwrap failed its startup probe: {detail}"
    return None
