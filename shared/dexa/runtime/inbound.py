"""Inbound triggers over a built runtime: the session starter they share (which also writes the audit entry naming
who asked) and `dexa serve`'s SMTP listener (dexa.triggers.smtp_listener). The webhooks Lambda's front for SES
inbound mail and Slack events is dexa.cloud.webhooks."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def trigger_starter(runtime: Any) -> Any:
    """dexa.triggers.inbound's starter (call on the engine's loop), sessions under each org's workspace root;
    each start is audited as `session.trigger` by the user it runs as, naming who asked."""
    from dexa.auth.audit import AuditLog
    from dexa.auth.models import Principal
    from dexa.auth.orgpaths import OrgPaths
    from dexa.triggers import inbound

    paths = OrgPaths(workspaces=runtime.settings.workspaces_dir, scopes=runtime.settings.orgs_dir)
    start = inbound.runtime_starter(runtime, workspace_for=paths.workspace_root)
    audit = AuditLog(runtime.store)

    async def audited(task: inbound.InboundTask) -> str:
        session_id = await start(task)
        who = Principal(org_id=task.org_id, user_id=task.user_id, role="member", key_id=f"trigger:{task.source}")
        await audit.append(who, "session.trigger", session_id, {"requested_by": task.requested_by})
        return session_id

    return audited


async def start_inbound_mail(runtime: Any, env: Mapping[str, str]) -> Any:
    """Start the SMTP listener when DEXA_INBOUND_SMTP_PORT is set (call on the engine's loop); it is closed with
    the runtime. Returns the asyncio server, or None."""
    import asyncio

    from dexa.triggers.email import EmailTriggers
    from dexa.triggers.smtp_listener import listen_address, start_listener

    where = listen_address(env)
    if where is None:
        return None
    server = await start_listener(EmailTriggers(runtime.store, trigger_starter(runtime)), *where)

    async def serve_until_cancelled() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            server.close()

    runtime.background.append(asyncio.create_task(serve_until_cancelled(), name="dexa-inbound-smtp"))
    return server
