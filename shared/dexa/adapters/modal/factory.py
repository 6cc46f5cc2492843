"""A session's ModalSandbox from the deployment environment (called by dexa.wiring when DEXA_SANDBOX=modal).

DEXA_MODAL_APP             the Modal app that holds session sandboxes (default dexa-sandbox)
DEXA_MODAL_IDLE_TIMEOUT_S  idle seconds before Modal ends a sandbox (default 900; the volume keeps the files)
DEXA_MODAL_LIFETIME_S      maximum sandbox lifetime (default and Modal's cap: 86400)
DEXA_MODAL_ENVIRONMENT     Modal environment name (default: the token's default)
MODAL_TOKEN_ID/SECRET      checked when the workspace is first needed (durable.require_token)
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from dexa.core.errors import ConfigError
from dexa.core.ports import KeyValueStore

from .durable import KvWorkspaceRecord
from .image import APP_NAME, WORKDIR
from .workspace import ModalSandbox

Emit = Callable[[str, str, Mapping[str, Any]], Awaitable[Any]]


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number of seconds, got {raw!r}") from None
    if value < 1:
        raise ConfigError(f"{name} must be at least 1, got {value}")
    return value


def session_workspace(
    *,
    session_id: str,
    org_id: str,
    cwd: str,
    env: Mapping[str, str],
    kv: KeyValueStore,
    network: bool,
    extra_roots: Sequence[str] = (),
    emit: Emit | None = None,
    reachable_hosts: Sequence[str] = (),
) -> ModalSandbox:
    """The session's workspace: its own sandbox and volume, the record in the store, events into its log.
    `reachable_hosts` stay reachable when the session has no network (the git credential proxy)."""

    async def on_event(type_: str, data: Mapping[str, Any]) -> None:
        if emit is not None:
            await emit(session_id, type_, data)

    return ModalSandbox(
        session_id,
        root=cwd,
        mount=WORKDIR,
        extra_roots=[r for r in extra_roots if r.startswith(WORKDIR + "/")],
        app_name=env.get("DEXA_MODAL_APP") or APP_NAME,
        network=network,
        domain_allowlist=tuple(reachable_hosts),
        idle_timeout_s=_int(env, "DEXA_MODAL_IDLE_TIMEOUT_S", 900),
        lifetime_s=min(_int(env, "DEXA_MODAL_LIFETIME_S", 24 * 3600), 24 * 3600),
        tags={"org": org_id},
        environment_name=env.get("DEXA_MODAL_ENVIRONMENT") or None,
        record=KvWorkspaceRecord(kv, session_id, org_id=org_id),
        on_event=on_event,
        env=env,
    )
