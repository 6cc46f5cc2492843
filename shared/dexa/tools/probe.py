"""Whether a session's workspace has a program, asked once per session environment.

The answer is kept in the environment's services (a fresh environment, e.g. after a rewind or a new sandbox, asks
again). The test runs inside the workspace, like the program it is about; a workspace that cannot run it has none.
"""

from __future__ import annotations

from typing import Any

from dexa.core.errors import SandboxError
from dexa.core.ports import Workspace


async def has(ws: Workspace, services: dict[str, Any], cwd: str, *, key: str, test: str) -> bool:
    """Whether the shell `test` succeeds in the workspace; cached under services[key]."""
    known = services.get(key)
    if known is None:
        try:
            probe = await ws.exec(test, cwd=cwd, timeout_s=10)
            known = probe.exit_code == 0
        except (SandboxError, OSError):
            known = False
        services[key] = known
    return bool(known)
