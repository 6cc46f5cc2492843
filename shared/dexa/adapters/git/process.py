"""Running git on the control-plane host: a clean environment (no system or global config, never a prompt)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping, Sequence


def git_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """A git environment that ignores this machine's system and global config, and never prompts."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/tmp"),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": "/dev/null",
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_ASKPASS": "/bin/false",
        "LANG": "C",
    }
    env.update(extra or {})
    return env


async def run_git(
    args: Sequence[str],
    *,
    cwd: str | None = None,
    env: Mapping[str, str] | None = None,
    stdin: bytes | None = None,
    timeout_s: float = 120.0,
) -> tuple[int, bytes, bytes]:
    """(exit code, stdout, stderr). A timeout kills git and reports exit code 124."""
    proc = await asyncio.create_subprocess_exec(
        "git",
        *args,
        cwd=cwd,
        env=git_env(env),
        stdin=asyncio.subprocess.PIPE if stdin is not None else None,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(stdin), timeout_s)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        return 124, b"", f"git {args[0]} timed out after {timeout_s}s".encode()
    return proc.returncode or 0, out, err
