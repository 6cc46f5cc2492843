"""The sandbox's only way out: 127.0.0.1:3128 inside, bridged to the egress proxy's Unix socket on the host.

A sandbox never shares the host's network namespace (from there it could reach the control plane on
127.0.0.1). With an egress socket, the session gets ONE network namespace holding only `lo` and a socat bridge
(started once, ~10 ms); each command joins it with nsenter (~0.5 ms) instead of starting a bridge of its own
(socat needs ~6.5 ms before it listens). Joining a namespace needs root; otherwise every command starts its own
bridge inside its sandbox (the socket is bound read-only at SANDBOX_SOCKET).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import stat

from dexa.core.errors import SandboxError

PROXY_PORT = 3128
PROXY_URL = f"http://127.0.0.1:{PROXY_PORT}"
SANDBOX_SOCKET = "/run/dexa/egress.sock"
_LISTEN_ENTRY = f"0100007F:{PROXY_PORT:04X}"  # 127.0.0.1:3128 as /proc/net/tcp spells it
_TCP_LISTEN = "0A"
_READY_TIMEOUT_S = 5.0

SOCAT_HINT = "The egress bridge needs socat: install it with `apt-get install socat` (or `make system-deps`)."


def proxy_env() -> dict[str, str]:
    """What makes curl, pip, npm, git and Python's urllib use the bridge."""
    env: dict[str, str] = {"NO_PROXY": "localhost,127.0.0.1,::1", "no_proxy": "localhost,127.0.0.1,::1"}
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY"):
        env[name] = PROXY_URL
    return env


def find_socat() -> str:
    for candidate in ("/usr/bin/socat", "/usr/local/bin/socat", "/bin/socat"):
        if os.access(candidate, os.X_OK):
            return candidate
    raise SandboxError(SOCAT_HINT)


def check_socket(path: str) -> str:
    """The real path of the egress socket. Raises SandboxError when it is not a listening-socket file."""
    real = os.path.realpath(path)
    try:
        mode = os.stat(real).st_mode
    except OSError as exc:
        raise SandboxError(f"egress socket {path!r} is not reachable: {exc.strerror}") from exc
    if not stat.S_ISSOCK(mode):
        raise SandboxError(f"egress socket {path!r} is not a Unix socket")
    return real


def socat_args(target: str) -> list[str]:
    return [f"TCP-LISTEN:{PROXY_PORT},bind=127.0.0.1,fork,reuseaddr", f"UNIX-CONNECT:{target}"]


def inline_bridge_prologue() -> str:
    """Bash run before the command when it cannot join a session bridge: start one, wait until it listens.

    The wait spins on /proc/net/tcp with builtins only (no process per check) and gives up if socat died.
    """
    socat = find_socat()
    args = " ".join(socat_args(SANDBOX_SOCKET))
    return (
        f"{socat} {args} </dev/null >/dev/null 2>&1 & __dexa_br=$!; "
        "while kill -0 $__dexa_br 2>/dev/null; do "
        f"while read -r _ __l _ __s _; do [[ $__l == {_LISTEN_ENTRY} && $__s == {_TCP_LISTEN} ]] && break 2; "
        "done </proc/net/tcp; done; unset __dexa_br __l __s; "
    )


def _nsenter() -> str | None:
    return shutil.which("nsenter", path="/usr/bin:/bin")


def can_join_netns() -> bool:
    return os.geteuid() == 0 and _nsenter() is not None


def _listening(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/net/tcp") as fh:
            next(fh, None)
            return any(f[1] == _LISTEN_ENTRY and f[3] == _TCP_LISTEN for f in (line.split() for line in fh))
    except OSError:
        return False


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as fh:
            return [int(p) for p in fh.read().split()]
    except OSError:
        return []


class SessionBridge:
    """The session's network namespace (only `lo`) with socat forwarding 127.0.0.1:3128 to the egress socket."""

    def __init__(self, socket_path: str) -> None:
        self.socket_path = socket_path
        self._proc: asyncio.subprocess.Process | None = None
        self.netns_fd: int | None = None

    async def start(self, bwrap: str) -> None:
        """Start the bridge and hold its namespace open. Raises SandboxError when it does not come up."""
        argv = [bwrap, "--unshare-net", "--unshare-pid", "--die-with-parent", "--dev-bind", "/", "/", "--"]
        argv += [find_socat(), *socat_args(self.socket_path)]
        self._proc = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, env={}
        )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + _READY_TIMEOUT_S
        while loop.time() < deadline and self._proc.returncode is None:
            inner = _children(self._proc.pid)
            if inner and _listening(inner[0]):
                self._hold_netns(inner[0])
                return
            await asyncio.sleep(0.001)
        await self.close()
        raise SandboxError(f"the egress bridge to {self.socket_path} did not start listening on {PROXY_URL}")

    def _hold_netns(self, pid: int) -> None:
        # An fd, not /proc/<pid>/ns/net: a recycled pid could otherwise lead a command into another namespace.
        fd = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        if os.fstat(fd).st_ino == os.stat("/proc/self/ns/net").st_ino:
            os.close(fd)
            raise SandboxError("the egress bridge runs in the host's network namespace; refusing to use it")
        self.netns_fd = fd

    def enter_argv(self) -> list[str]:
        """The prefix that runs a command in the session's namespace (the fd must be passed to the child)."""
        if self.netns_fd is None:
            raise SandboxError("the egress bridge is not running")
        return [_nsenter() or "nsenter", f"--net=/proc/self/fd/{self.netns_fd}", "--"]

    async def close(self) -> None:
        if self.netns_fd is not None:
            os.close(self.netns_fd)
            self.netns_fd = None
        if self._proc is not None and self._proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self._proc.kill()  # its sandbox's init gets PDEATHSIG; the pid namespace takes every socat along
            await self._proc.wait()
        self._proc = None
