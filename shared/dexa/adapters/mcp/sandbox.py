"""Run project stdio servers inside the workspace sandbox (bubblewrap), like Bash commands.

A project's `.mcp.json` can start arbitrary programs, so they get what Bash gets: the workspace roots read-write,
system trees read-only, no network unless the session has it, a clean environment with no platform credentials.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from dexa.adapters.local_sandbox import egress
from dexa.adapters.local_sandbox.bwrap import (
    SANDBOX_PATH,
    bwrap_argv,
    find_bwrap,
    prepare_etc,
    probe_bwrap,
    sandbox_env,
)
from dexa.core.errors import SandboxError

from .config import ServerConfig
from .launch_mounts import launch_mounts
from .transports import CommandWrapper, StdioLaunch

# Scopes whose commands come from a repository or a user's files, not from Dexa itself.
logger = logging.getLogger(__name__)

# The host's PATH is replaced by one that names only what is bound inside; HOME is set by sandbox_env.
HELD = frozenset({"HOME", "PATH"})
SANDBOXED_SCOPES = frozenset({"project", "local", "user", "session", "org", "integration"})


def bwrap_wrapper(
    roots: Sequence[str],
    *,
    network: bool = False,
    read_only: Sequence[str] = (),
    cache_dir: str | None = None,
    protected: Sequence[str] = (),
    egress_socket: str | None = None,
) -> CommandWrapper:
    """A CommandWrapper that launches stdio servers under bwrap with the given writable roots.

    `read_only` adds host paths bound read-only (an interpreter's venv, a node_modules tree outside the workspace).
    Each launch also gets what its own program needs (`launch_mounts`): the resolved executable's install tree,
    a script's package tree, the npx/uvx caches, and PATH entries for them. `protected` paths (Dexa's home) and
    anything containing them are never bound. With `egress_socket` (the session's egress proxy, given when its
    network policy allows any) the server reaches the network as Bash does: through a bridge on 127.0.0.1:3128
    and the proxy variables, filtered by the same policy; without it, a server has only `lo`.

    Raises:
        SandboxError: bwrap is not usable here (the message says how to fix it).
    """
    problem = probe_bwrap()
    bwrap = find_bwrap()
    if problem is not None or bwrap is None:
        raise SandboxError(f"cannot sandbox MCP servers: {problem or 'bwrap is not installed'}")
    etc_cache = cache_dir or os.path.join(tempfile.gettempdir(), "dexa-bwrap-etc")
    resolved_roots = [str(Path(r).resolve()) for r in roots]
    bridge = _bridge(egress_socket)
    online = network and bridge is not None

    def wrap(launch: StdioLaunch, server: ServerConfig) -> StdioLaunch:
        if server.scope not in SANDBOXED_SCOPES:
            return launch
        command = launch.command
        if "/" not in command:
            command = shutil.which(command, path=launch.env.get("PATH")) or command
        cwd = launch.cwd or resolved_roots[0]
        needs = launch_mounts(
            command,
            launch.args,
            env=launch.env,
            cwd=cwd,
            roots=resolved_roots,
            home=launch.env.get("HOME"),
            protected=protected,
            network=online,
        )
        proxy = egress.proxy_env() if bridge is not None else {}
        env = sandbox_env(
            launch.env.get("HOME", cwd), {**proxy, **{k: v for k, v in launch.env.items() if k not in HELD}}
        )
        env["PATH"] = ":".join(dict.fromkeys([*needs.path_dirs, *SANDBOX_PATH.split(":")]))
        inner = [command, *launch.args]
        if bridge is not None:
            # socat's stdio is /dev/null: the server's stdin/stdout stay the MCP channel.
            inner = [bridge.shell, "--noprofile", "--norc", "-c", bridge.prologue + 'exec "$@"', "mcp", *inner]
        argv = bwrap_argv(
            bwrap,
            roots=resolved_roots,
            cwd=cwd,
            env=env,
            etc_dir=prepare_etc(etc_cache, network=online),
            hostname=f"dexa-mcp-{server.name}"[:63],
            command=inner,
        )
        split = argv.index("--chdir")
        extra: list[str] = []
        for path in dict.fromkeys([*(str(Path(p).resolve()) for p in read_only), *needs.read_only]):
            extra += ["--ro-bind", path, path]
        for path in needs.writable:
            extra += ["--bind", path, path]
        if bridge is not None:
            extra += ["--ro-bind", bridge.socket, egress.SANDBOX_SOCKET]
        argv = argv[:split] + extra + argv[split:]
        # bwrap itself runs with an empty env; --setenv gives the server its own.
        return StdioLaunch(command=argv[0], args=tuple(argv[1:]), env={}, cwd=None)

    return wrap


@dataclass(frozen=True, slots=True)
class _Bridge:
    socket: str
    prologue: str
    shell: str


def _bridge(egress_socket: str | None) -> _Bridge | None:
    """The in-sandbox bridge to the session's egress proxy, or None (no socket, or no socat/bash to run it)."""
    if egress_socket is None:
        return None
    shell = shutil.which("bash", path=SANDBOX_PATH)
    try:
        socket = egress.check_socket(egress_socket)
        prologue = egress.inline_bridge_prologue()
    except SandboxError as exc:
        logger.warning("MCP servers get no network: %s", exc)
        return None
    if shell is None:
        logger.warning("MCP servers get no network: bash is not installed for the egress bridge")
        return None
    return _Bridge(socket=socket, prologue=prologue, shell=shell)
