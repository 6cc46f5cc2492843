"""Inbound triggers over a built runtime: the session starter they share (which also writes the audit entry naming
who asked), `dexa serve`'s SMTP listener (dexa.triggers.smtp_listener), and the webhooks Lambda's front for SES
inbound mail and Slack events (`POST /webhooks/slack-events`)."""

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


class InboundReceiver:
    """The webhooks Lambda's front: SES inbound mail and Slack events start sessions here; everything else (Slack
    clicks, GitHub deliveries) goes on to `inner` (dexa.adapters.aws.webhooks.WebhookReceiver)."""

    def __init__(self, runtime: Any, env: Mapping[str, str], inner: Any, *, s3: Any = None) -> None:
        self.runtime, self.env, self.inner, self._s3 = runtime, env, inner, s3
        self._start: Any = None

    def _starter(self) -> Any:
        if self._start is None:
            self._start = trigger_starter(self.runtime)
        return self._start

    async def handle(self, event: Mapping[str, Any]) -> Any:
        from dexa.adapters.aws.ses_inbound import SesInbound, is_ses_event

        if is_ses_event(event):
            from dexa.triggers.email import EmailTriggers

            triggers = EmailTriggers(self.runtime.store, self._starter())
            return await SesInbound.from_env(triggers, self.env, s3=self._s3).handle(event)
        params = event.get("pathParameters") or {}
        if params.get("template_id"):
            return await self.task_webhook(event, str(params["template_id"]))
        if str(params.get("provider") or "").lower() == "slack-events":
            return await self.slack_events(event)
        return await self.inner.handle(event)

    @staticmethod
    def _body(event: Mapping[str, Any]) -> bytes:
        import base64

        raw = event.get("body") or ""
        return base64.b64decode(raw) if event.get("isBase64Encoded") else str(raw).encode()

    @staticmethod
    def _answer(status: int, content: Mapping[str, Any]) -> dict[str, Any]:
        import json

        return {"statusCode": status, "headers": {"content-type": "application/json"}, "body": json.dumps(content)}

    async def task_webhook(self, event: Mapping[str, Any], template_id: str) -> dict[str, Any]:
        """`POST /webhooks/tasks/{template_id}` (an API route with that path parameter) fills a saved template."""
        from dexa.triggers.templates import handle_delivery

        headers = dict(event.get("headers") or {})
        status, content = await handle_delivery(
            self.runtime.store, self._starter(), template_id, headers, self._body(event)
        )
        return self._answer(status, content)

    async def slack_events(self, event: Mapping[str, Any]) -> dict[str, Any]:
        from dexa.adapters.aws.secrets import SecretReader
        from dexa.runtime.webhooks import slack_api
        from dexa.triggers.slack_events import SlackEvents

        body = self._body(event)
        reader = SecretReader(self.env)
        public = str(getattr(self.runtime, "base_url", "") or "").rstrip("/")
        events = SlackEvents(
            self.runtime.store,
            self._starter(),
            secret=lambda: reader.get("DEXA_SLACK_SIGNING_SECRET"),
            slack=getattr(self.inner, "slack_api", None) or slack_api(self.env, reader),
            session_url=(lambda sid: f"{public}/ui/sessions/{sid}") if public else (lambda _sid: ""),
        )
        status, content = await events.handle(dict(event.get("headers") or {}), body)
        return self._answer(status, content)
