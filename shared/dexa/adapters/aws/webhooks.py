"""Webhook receivers behind API Gateway: Slack interactions (approval buttons) and GitHub deliveries.

Both authenticate by HMAC signature over the raw body, never by API key. A Slack button decides an approval
through the engine (exactly once) and releases the parked Step Functions execution; duplicate deliveries answer
"already decided". GitHub deliveries are verified, de-duplicated by X-GitHub-Delivery and recorded for automations.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time
import urllib.parse
from collections.abc import Callable, Mapping
from typing import Any

from dexa.core.engine import TurnEngine
from dexa.core.errors import NotFoundError

from .sfn import SfnApprovalNotifier

logger = logging.getLogger(__name__)

SLACK_MAX_SKEW_S = 300
DELIVERIES_NS = "github_deliveries"
SecretFn = Callable[[str], str]


def _response(status: int, body: Mapping[str, Any]) -> dict[str, Any]:
    return {"statusCode": status, "headers": {"content-type": "application/json"}, "body": json.dumps(dict(body))}


def _raw_body(event: Mapping[str, Any]) -> bytes:
    body = event.get("body") or ""
    return base64.b64decode(body) if event.get("isBase64Encoded") else str(body).encode()


def _headers(event: Mapping[str, Any]) -> dict[str, str]:
    return {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}


def slack_signature(secret: str, timestamp: str, body: bytes) -> str:
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def github_signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def approval_buttons(session_id: str, approval_id: str) -> list[dict[str, Any]]:
    """Block Kit buttons whose clicks this receiver understands (used when posting an approval request)."""

    def button(text: str, decision: str, style: str | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "type": "button",
            "text": {"type": "plain_text", "text": text},
            "action_id": f"dexa_{decision}",
            "value": json.dumps({"session_id": session_id, "approval_id": approval_id, "decision": decision}),
        }
        if style:
            out["style"] = style
        return out

    return [
        {
            "type": "actions",
            "elements": [
                button("Allow once", "once", "primary"),
                button("Always allow", "always"),
                button("Deny", "deny", "danger"),
            ],
        }
    ]


class WebhookReceiver:
    def __init__(
        self,
        engine: TurnEngine,
        notifier: SfnApprovalNotifier | None,
        secret: SecretFn,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.engine = engine
        self.notifier = notifier
        self.secret = secret
        self.clock = clock

    @classmethod
    def from_env(cls, engine: TurnEngine, env: Mapping[str, str]) -> WebhookReceiver:
        from . import schema

        notifier = SfnApprovalNotifier(engine.store) if env.get(schema.ENV_STATE_MACHINE_ARN) else None
        cache: dict[str, str] = {}

        def secret(provider: str) -> str:
            if provider not in cache:
                direct = env.get(f"DEXA_{provider.upper()}_WEBHOOK_SECRET") or env.get(
                    f"DEXA_{provider.upper()}_SIGNING_SECRET"
                )
                arn = env.get(f"DEXA_{provider.upper()}_WEBHOOK_SECRET_ARN") or env.get(
                    f"DEXA_{provider.upper()}_SIGNING_SECRET_ARN"
                )
                if not direct and arn:
                    import boto3

                    direct = boto3.client("secretsmanager").get_secret_value(SecretId=arn).get("SecretString", "")
                cache[provider] = direct or ""
            return cache[provider]

        return cls(engine, notifier, secret)

    async def handle(self, event: Mapping[str, Any]) -> dict[str, Any]:
        provider = str((event.get("pathParameters") or {}).get("provider") or "").lower()
        if not provider:
            provider = str(event.get("path") or event.get("rawPath") or "").rstrip("/").rsplit("/", 1)[-1].lower()
        if provider == "slack":
            return await self.slack(event)
        if provider == "github":
            return await self.github(event)
        return _response(404, {"error": f"no webhook receiver for {provider!r} (expected slack or github)"})

    # ------------------------------------------------------------ Slack

    async def slack(self, event: Mapping[str, Any]) -> dict[str, Any]:
        body, headers = _raw_body(event), _headers(event)
        secret = self.secret("slack")
        timestamp = headers.get("x-slack-request-timestamp", "")
        if not secret:
            return _response(500, {"error": "the Slack signing secret is not configured"})
        if not timestamp.isdigit() or abs(self.clock() - int(timestamp)) > SLACK_MAX_SKEW_S:
            return _response(401, {"error": "stale or missing X-Slack-Request-Timestamp"})
        if not hmac.compare_digest(slack_signature(secret, timestamp, body), headers.get("x-slack-signature", "")):
            return _response(401, {"error": "bad X-Slack-Signature"})
        form = urllib.parse.parse_qs(body.decode())
        try:
            payload = json.loads(form["payload"][0])
            action = payload["actions"][0]
            value = json.loads(action["value"])
            session_id, approval_id, decision = value["session_id"], value["approval_id"], value["decision"]
        except (KeyError, IndexError, ValueError, TypeError) as exc:
            return _response(400, {"error": f"not a Dexa approval action: {type(exc).__name__}: {exc}"})
        if decision not in ("once", "always", "deny"):
            return _response(400, {"error": f"decision must be once, always or deny, got {decision!r}"})
        user = payload.get("user") or {}
        by = f"slack:{user.get('id') or user.get('username') or 'unknown'}"
        try:
            decided, won = await self.engine.resolve_approval(
                session_id,
                approval_id,
                allow=decision != "deny",
                scope="always" if decision == "always" else "once",
                by=by,
            )
        except NotFoundError:
            return _response(404, {"error": f"approval {approval_id} not found"})
        if won and self.notifier is not None:
            await self.notifier.notify(decided)
        text = (
            f"{decided.tool_name or 'Request'}: {decided.status} by {decided.decided_by}"
            if won
            else f"Already decided: {decided.status} by {decided.decided_by or 'someone else'}"
        )
        return _response(200, {"replace_original": True, "text": text})

    # ------------------------------------------------------------ GitHub

    async def github(self, event: Mapping[str, Any]) -> dict[str, Any]:
        body, headers = _raw_body(event), _headers(event)
        secret = self.secret("github")
        if not secret:
            return _response(500, {"error": "the GitHub webhook secret is not configured"})
        if not hmac.compare_digest(github_signature(secret, body), headers.get("x-hub-signature-256", "")):
            return _response(401, {"error": "bad X-Hub-Signature-256"})
        delivery = headers.get("x-github-delivery", "")
        if not delivery:
            return _response(400, {"error": "missing X-GitHub-Delivery"})
        try:
            payload = json.loads(body or b"{}")
        except ValueError:
            return _response(400, {"error": "the body is not JSON"})
        record = {
            "delivery": delivery,
            "event": headers.get("x-github-event", ""),
            "action": payload.get("action", ""),
            "repository": (payload.get("repository") or {}).get("full_name", ""),
            "installation": (payload.get("installation") or {}).get("id"),
            "received_at": self.clock(),
        }
        fresh = await self.engine.store.kv_put_if_absent(DELIVERIES_NS, delivery, record)
        return _response(202, {"delivery": delivery, "duplicate": not fresh})
