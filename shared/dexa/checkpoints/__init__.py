"""Checkpoints and rewind for the whole workspace tree, Bash-made changes included.

    service = CheckpointService(store, blobs, workspace_for, emit=engine.emit)
    env.checkpointer = service                      # the engine calls service.checkpoint(...)
    await service.list_checkpoints(session_id)      # newest first
    await service.rewind(session_id, checkpoint_id="ckpt_0003", mode="both", on_conflict="ask")
    await record_side_effect(store, session_id, kind="pr_created", summary=..., compensation=...)

What a rewind does NOT cover: anything outside the workspace tree. External services (sent emails, posted
messages, pushed branches, PRs) are listed from the side-effect ledger with their compensating action, never undone;
databases and other services reached from the workspace (a migration run against Postgres, a file uploaded to S3)
are not captured at all. Files that .gitignore excludes, dependency/build/cache directories (node_modules, .venv,
target, dist, build, __pycache__...: ignore.DEPENDENCY_DIR_NAMES, even without a .gitignore), symlinks, and files
over the size caps are left alone (each checkpoint lists what the caps skipped, and a new cap skip is a `warning`
event). Empty directories are not tracked. `dexa checkpoints gc` expires old checkpoints and frees unreferenced blobs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from dexa.core.environment import EnvFactory
from dexa.core.ports import SessionStore, Workspace

from .ledger import SideEffect, SideEffectLedger, record_side_effect
from .manifest import Checkpoint, checkpoint_id
from .service import CheckpointService

__all__ = [
    "Checkpoint",
    "CheckpointService",
    "SideEffect",
    "SideEffectLedger",
    "checkpoint_id",
    "env_workspace_resolver",
    "record_side_effect",
]


def env_workspace_resolver(store: SessionStore, envs: EnvFactory) -> Callable[[str], Awaitable[Workspace]]:
    """The `workspace_for` a runtime passes to CheckpointService: the session's own workspace from its env."""

    async def workspace_for(session_id: str) -> Workspace:
        session = await store.get_session(session_id)
        return (await envs.env_for(session)).workspace

    return workspace_for
