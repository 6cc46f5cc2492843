"""Run project stdio servers inside the workspace sandbox (bubblewrap), like Bash commands.

A project's `.mcp.json` can start arbitrary programs, so they get what Bash gets: the workspace roots read-write,
system trees read-only, no network unless the session has it, a clean environment with no platform credentials.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from dexa.adapters.local_sandbox.bwrap import bwrap_argv, find_bwrap, prepare_etc, probe_bwrap, sandbox_env
from dexa.core.errors import SandboxError

from .config import ServerConfig
from .transports import CommandWrapper, StdioLaunch

# Scopes whose commands come from a repository or a user's files, not from Dexa itself.
SANDBOXED_SCOPES = frozenset({"project", "local", "user", "session", "org", "integration"})


def bwrap_wrapper(
    roots: Sequence[str],
    *,
    network: bool = False,
    read_only: Sequence[str] = (),
    cache_dir: str | None = None,
) -> CommandWrapper:
    """A CommandWrapper that launches stdio servers under bwrap with the given writable roots.

    `read_only` adds host paths bound read-only (an interpreter's venv, a node_modules tree outside the workspace).

    Raises:
        SandboxError: bwrap is not usable here (the message says how to fix it).
    """
    problem = probe_bwrap()
    bwrap = find_bwrap()
    if problem is not None or bwrap is None:
        raise SandboxError(f"cannot sandbox MCP servers: {problem or 'bwrap is not installed'}")
    etc_cache = cache_dir or os.path.join(tempfile.gettempdir(), "dexa-bwrap-etc")
    resolved_roots = [str(Path(r).resolve()) for r in roots]

    def wrap(launch: StdioLaunch, server: ServerConfig) -> StdioLaunch:
        if server.scope not in SANDBOXED_SCOPES:
            return launch
        command = launch.command
        if "/" not in command:
            command = shutil.which(command, path=launch.env.get("PATH")) or command
        cwd = launch.cwd or resolved_roots[0]
        env = sandbox_env(launch.env.get("HOME", cwd), {k: v for k, v in launch.env.items() if k != "HOME"})
        argv = bwrap_argv(
            bwrap,
            roots=resolved_roots,
            cwd=cwd,
            env=env,
            etc_dir=prepare_etc(etc_cache, network=network),
            hostname=f"dexa-mcp-{server.name}"[:63],
            command=[command, *launch.args],
        )
        split = argv.index("--chdir")
        extra: list[str] = []
        for path in read_only:
            real = str(Path(path).resolve())
            extra += ["--ro-bind", real, real]
        argv = argv[:split] + extra + argv[split:]
        # bwrap itself runs with an empty env; --setenv gives the server its own.
        return StdioLaunch(command=argv[0], args=tuple(argv[1:]), env={}, cwd=None)

    return wrap
