"""What makes a session's Modal workspace durable: its volume, its record, and the token check.

Why a Volume rather than filesystem snapshots: Modal ends a sandbox after its idle timeout or its maximum lifetime
without warning, so a snapshot (`snapshot_filesystem`) would have to be taken after every command to lose nothing,
and each takes seconds. A Volume mounted at the workspace root holds the files as they are written; a new sandbox
that mounts it again sees them. The job journals live on the volume too, so a command's result outlives its sandbox.

Never silently empty: the first sandbox writes a marker (a random nonce) on the volume and the session's record in
the store keeps the nonce. A later sandbox must find the same nonce on the volume it mounts; a missing volume or a
different marker means the files are gone, which is reported as an error instead of a fresh, empty workspace.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any, Protocol

from dexa.core import env_on_demand
from dexa.core.errors import ConfigError
from dexa.core.ports import KeyValueStore

RECORD_NS = "modal_workspaces"
SECRET_HINT = (
    "set MODAL_TOKEN_ID and MODAL_TOKEN_SECRET (deployed: the Secrets Manager secret named by DEXA_MODAL_SECRET_ARN, "
    'JSON {"token_id": ..., "token_secret": ...}), or DEXA_SANDBOX=bwrap for the local sandbox'
)
_NAME = re.compile(r"[^A-Za-z0-9_.-]")


def volume_name(session_id: str) -> str:
    """Modal object names: letters, digits, '-', '_', '.', at most 64 characters."""
    return ("dexa-ws-" + _NAME.sub("-", session_id))[:64]


def require_token(env: Mapping[str, str]) -> None:
    """A Modal token must be configured before a workspace is needed (checked then, not at start-up).

    Raises:
        ConfigError: neither the token variables nor a Modal config file is present; names the secret to set.
    """
    # A deployment may read the token only now (dexa.cloud.lambdas: from Secrets Manager, into os.environ, where the
    # Modal SDK reads it); `env` may be the runtime's snapshot of the environment from before.
    if env_on_demand.lookup("MODAL_TOKEN_ID", env) and env_on_demand.lookup("MODAL_TOKEN_SECRET", env):
        return
    config = env.get("MODAL_CONFIG_PATH") or os.path.join(env.get("HOME") or os.path.expanduser("~"), ".modal.toml")
    if os.path.isfile(config):
        return
    raise ConfigError(f"DEXA_SANDBOX=modal but no Modal token is configured: {SECRET_HINT}")


class WorkspaceRecord(Protocol):
    """Where a session remembers its workspace (volume name, marker nonce, restarts) outside Modal."""

    async def load(self) -> dict[str, Any] | None: ...

    async def save(self, doc: Mapping[str, Any]) -> None: ...


class KvWorkspaceRecord:
    """The record as one key-value document per session (SQLite locally, DynamoDB in the cloud)."""

    def __init__(self, kv: KeyValueStore, session_id: str, *, org_id: str = "") -> None:
        self._kv, self._key, self._org = kv, session_id, org_id

    async def load(self) -> dict[str, Any] | None:
        return await self._kv.kv_get(RECORD_NS, self._key, org_id=self._org)

    async def save(self, doc: Mapping[str, Any]) -> None:
        await self._kv.kv_put(RECORD_NS, self._key, doc, org_id=self._org)


class MemoryWorkspaceRecord:
    """A record kept in memory (tests, one-off scripts): loss of the volume is detected only within one process."""

    def __init__(self) -> None:
        self.doc: dict[str, Any] | None = None

    async def load(self) -> dict[str, Any] | None:
        return None if self.doc is None else dict(self.doc)

    async def save(self, doc: Mapping[str, Any]) -> None:
        self.doc = dict(doc)
