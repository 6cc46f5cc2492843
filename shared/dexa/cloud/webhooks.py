"""The webhooks Lambda's fronts: what it is invoked with, taken apart and handed to the feature that decides.

    SES (or SES through SNS)         received mail -> dexa.triggers.email (SES's shapes: dexa.adapters.aws.ses_inbound)
    /webhooks/tasks/{template_id}    a saved task template filled from the body (dexa.triggers.templates)
    /webhooks/slack-events           mentions and DMs start sessions (dexa.triggers.slack_events)
    /webhooks/slack                  Approve/Reject clicks (dexa.integrations.slack_clicks)
    /webhooks/github                 signed deliveries, once each; an `@dexa` mention starts a session
                                     (dexa.triggers.github)
Every route authenticates by the signature of its raw body, never by API key. A surface like dexa.cloud.lambdas,
which builds these over the cloud runtime: the features below know nothing of API Gateway or SES events.
"""

from __future__ import annotations

import base64
import json
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from dexa.adapters.aws.secrets import SecretReader
from dexa.adapters.github.webhooks import verify_signature
from dexa.core.engine import TurnEngine
from dexa.core.errors import ConfigError
from dexa.integrations.slack_clicks import ApprovalRelease, QueueFn, SlackClicks
from dexa.integrations.slack_review import SlackApi

logger = logging.getLogger(__name__)

DELIVERIES_NS = "github_deliveries"
SecretFn = Callable[[str], str]  # provider ("slack" | "github") -> its signing secret
_SECRET_NAMES = {
    "slack": ("DEXA_SLACK_SIGNING_SECRET", "DEXA_SLACK_WEBHOOK_SECRET"),
    "github": ("DEXA_GITHUB_WEBHOOK_SECRET", "DEXA_GITHUB_SIGNING_SECRET"),
}


def _response(status: int, body: Mapping[str, Any]) -> dict[str, Any]:
    return {"statusCode": status, "headers": {"content-type": "application/json"}, "body": json.dumps(dict(body))}


def _raw_body(event: Mapping[str, Any]) -> bytes:
    body = event.get("body") or ""
    return base64.b64decode(body) if event.get("isBase64Encoded") else str(body).encode()


def _headers(event: Mapping[str, Any]) -> dict[str, str]:
    return {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}


class WebhookReceiver:
    """Slack clicks and GitHub deliveries, as API Gateway proxy events."""

    def __init__(
        self,
        engine: TurnEngine,
        notifier: ApprovalRelease | None,
        secret: SecretFn,
        *,
        clock: Callable[[], float] = time.time,
        github: Any = None,
        slack: SlackApi | None = None,
        outputs: QueueFn | None = None,
    ) -> None:
        """`notifier` releases a parked turn once a click decided its approval; `github` is a
        dexa.triggers.GitHubTriggers (None: deliveries are only verified and recorded); `slack` answers clicks
        through their response_url; `outputs` gives the staged-output queue."""
        self.engine, self.secret, self.github_triggers = engine, secret, github
        self.clicks = SlackClicks(engine, notifier, lambda: secret("slack"), clock=clock, slack=slack, outputs=outputs)

    @property
    def slack_api(self) -> SlackApi | None:
        return self.clicks.slack_api

    async def handle(self, event: Mapping[str, Any]) -> dict[str, Any]:
        provider = str((event.get("pathParameters") or {}).get("provider") or "").lower()
        if not provider:
            provider = str(event.get("path") or event.get("rawPath") or "").rstrip("/").rsplit("/", 1)[-1].lower()
        if provider == "slack":
            return await self.slack(event)
        if provider == "github":
            return await self.github(event)
        return _response(404, {"error": f"no webhook receiver for {provider!r} (expected slack or github)"})

    async def slack(self, event: Mapping[str, Any]) -> dict[str, Any]:
        return _response(*await self.clicks.handle(_headers(event), _raw_body(event)))

    async def github(self, event: Mapping[str, Any]) -> dict[str, Any]:
        body, headers = _raw_body(event), _headers(event)
        secret = self.secret("github")
        if not secret:
            return _response(500, {"error": "the GitHub webhook secret is not configured"})
        if not verify_signature(secret, body, headers.get("x-hub-signature-256", "")):
            return _response(401, {"error": "bad X-Hub-Signature-256"})
        delivery, kind = headers.get("x-github-delivery", ""), headers.get("x-github-event", "")
        if not delivery:
            return _response(400, {"error": "missing X-GitHub-Delivery"})
        if kind == "ping":
            return _response(200, {"status": "pong"})
        try:
            payload = json.loads(body or b"{}")
        except ValueError:
            return _response(400, {"error": "the body is not JSON"})
        if not isinstance(payload, dict) or not isinstance(payload.get("repository"), dict):
            return _response(200, {"delivery": delivery, "status": "ignored", "reason": "no repository"})
        if self.github_triggers is None:
            fresh = await self.engine.store.kv_put_if_absent(DELIVERIES_NS, delivery, {"event": kind})
            return _response(202, {"delivery": delivery, "status": "recorded", "duplicate": not fresh})
        result = await self.github_triggers.handle_delivery(event=kind, delivery_id=delivery, payload=payload)
        return _response(
            202 if result.status == "started" else 200,
            {
                "delivery": delivery,
                "status": result.status,
                "reason": result.reason,
                "session_id": result.session_id,
                "duplicate": result.status == "duplicate",
            },
        )


def build_receiver(runtime: Any, env: Mapping[str, str], *, secrets: SecretReader | None = None) -> WebhookReceiver:
    """The receiver over a built runtime. Environment (set by stacks/integrations.py; a plain value wins over its
    `_ARN` secret): DEXA_SLACK_SIGNING_SECRET(_ARN), DEXA_GITHUB_WEBHOOK_SECRET(_ARN), DEXA_SLACK_BOT_TOKEN(_ARN)
    (answers clicks), DEXA_PUBLIC_URL(_PARAMETER) (session links in GitHub comments)."""
    from dexa.adapters.aws import schema
    from dexa.adapters.aws.sfn import SfnApprovalNotifier, SfnTurnDriver
    from dexa.runtime.webhooks import github_triggers, slack_api

    secrets = secrets or SecretReader(env)
    driver = runtime.driver
    if isinstance(driver, SfnTurnDriver):
        notifier: SfnApprovalNotifier | None = driver.approvals
    else:
        notifier = SfnApprovalNotifier(runtime.store) if env.get(schema.ENV_STATE_MACHINE_ARN) else None

    def secret(provider: str) -> str:
        return next((v for v in (secrets.get(n) for n in _SECRET_NAMES.get(provider, ())) if v), "")

    def outputs() -> Any:
        return runtime.integrations.queue

    return WebhookReceiver(
        runtime.engine,
        notifier,
        secret,
        github=github_triggers(runtime, env),
        slack=slack_api(env, secrets),
        outputs=outputs if hasattr(type(runtime), "integrations") else None,  # the class: don't build it yet
    )


class InboundReceiver:
    """The webhooks Lambda's front: SES inbound mail, task templates and Slack events start sessions here;
    everything else (Slack clicks, GitHub deliveries) goes on to `inner` (a WebhookReceiver)."""

    def __init__(self, runtime: Any, env: Mapping[str, str], inner: Any, *, s3: Any = None) -> None:
        self.runtime, self.env, self.inner, self._s3 = runtime, env, inner, s3
        self._start: Any = None

    def _starter(self) -> Any:
        if self._start is None:
            from dexa.runtime.inbound import trigger_starter

            self._start = trigger_starter(self.runtime)
        return self._start

    async def handle(self, event: Mapping[str, Any]) -> Any:
        from dexa.adapters.aws.ses_inbound import is_ses_event

        if is_ses_event(event):
            return await self.mail(event)
        params = event.get("pathParameters") or {}
        if params.get("template_id"):
            return await self.task_webhook(event, str(params["template_id"]))
        if str(params.get("provider") or "").lower() == "slack-events":
            return await self.slack_events(event)
        return await self.inner.handle(event)

    async def mail(self, event: Mapping[str, Any]) -> dict[str, Any]:
        """Start a session per received message. Returns SES's disposition (a synchronous invocation reads it)
        and what became of each message.

        Raises:
            StorageError: a stored message could not be read (the invocation fails, so SES retries it).
        """
        from dexa.adapters.aws.ses_inbound import SesInbound
        from dexa.triggers.email import EmailResult, EmailTriggers, parse_message

        ses = SesInbound.from_env(self.env, s3=self._s3)
        triggers = EmailTriggers(self.runtime.store, self._starter())
        results: list[dict[str, Any]] = []
        for mail in ses.received(event):
            if mail.refused:
                result = EmailResult(status="rejected", reason=mail.refused)
            else:
                try:
                    parsed = parse_message(await ses.raw(mail), envelope_to=mail.recipients)
                    result = await triggers.handle(parsed, authenticated=mail.authenticated)
                except ConfigError as exc:
                    result = EmailResult(status="rejected", reason=exc.message)
            if result.status == "rejected":
                logger.warning("inbound mail %s refused: %s", mail.message_id, result.reason)
            results.append(
                {
                    "message_id": mail.message_id,
                    "status": result.status,
                    "reason": result.reason,
                    "session_id": result.session_id,
                }
            )
        return {"disposition": "CONTINUE", "results": results}

    async def task_webhook(self, event: Mapping[str, Any], template_id: str) -> dict[str, Any]:
        """`POST /webhooks/tasks/{template_id}` (an API route with that path parameter) fills a saved template."""
        from dexa.triggers.templates import handle_delivery

        headers = dict(event.get("headers") or {})
        status, content = await handle_delivery(
            self.runtime.store, self._starter(), template_id, headers, _raw_body(event)
        )
        return _response(status, content)

    async def slack_events(self, event: Mapping[str, Any]) -> dict[str, Any]:
        from dexa.runtime.webhooks import slack_api
        from dexa.triggers.slack_events import SlackEvents

        reader = SecretReader(self.env)
        public = str(getattr(self.runtime, "base_url", "") or "").rstrip("/")
        events = SlackEvents(
            self.runtime.store,
            self._starter(),
            secret=lambda: reader.get("DEXA_SLACK_SIGNING_SECRET"),
            slack=getattr(self.inner, "slack_api", None) or slack_api(self.env, reader),
            session_url=(lambda sid: f"{public}/ui/sessions/{sid}") if public else (lambda _sid: ""),
        )
        status, content = await events.handle(dict(event.get("headers") or {}), _raw_body(event))
        return _response(status, content)
