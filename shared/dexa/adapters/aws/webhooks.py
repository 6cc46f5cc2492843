"""Webhook receivers behind API Gateway: Slack interactions (Approve/Reject buttons) and GitHub deliveries.

Both authenticate by HMAC signature over the raw body, never by API key. A Slack click decides only when the
clicking Slack user maps to a Dexa user of the approval's org who may approve (dexa.triggers.org_links); anyone
else gets an ephemeral refusal and nothing changes. A decision is made exactly once, and a tool decision releases
the parked Step Functions execution. A GitHub delivery is verified, de-duplicated by X-GitHub-Delivery and, when it
is an `@dexa` mention on a linked repo, starts a session (dexa.triggers.github).
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
from dexa.core.errors import ConflictError, DexaError, NotFoundError
from dexa.integrations.slack_review import SlackApi, refusal
from dexa.triggers.org_links import slack_reviewer

from .sfn import SfnApprovalNotifier

logger = logging.getLogger(__name__)

SLACK_MAX_SKEW_S = 300
DELIVERIES_NS = "github_deliveries"
SecretFn = Callable[[str], str]
QueueFn = Callable[[], Any]  # () -> dexa.integrations.outputs.queue.OutputQueue (built on first use)


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


class WebhookReceiver:
    def __init__(
        self,
        engine: TurnEngine,
        notifier: SfnApprovalNotifier | None,
        secret: SecretFn,
        *,
        clock: Callable[[], float] = time.time,
        github: Any = None,
        slack: SlackApi | None = None,
        outputs: QueueFn | None = None,
    ) -> None:
        """`github` is a dexa.triggers.GitHubTriggers (None: deliveries are only verified and recorded); `slack`
        answers interactions through their response_url; `outputs` gives the staged-output queue."""
        self.engine = engine
        self.notifier = notifier
        self.secret = secret
        self.clock = clock
        self.github_triggers = github
        self.slack_api = slack
        self.outputs = outputs

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
            value = json.loads(payload["actions"][0]["value"])
            decision = str(value["decision"])
        except (KeyError, IndexError, ValueError, TypeError) as exc:
            return _response(400, {"error": f"not a Dexa approval action: {type(exc).__name__}: {exc}"})
        team = str((payload.get("team") or {}).get("id") or (payload.get("user") or {}).get("team_id") or "")
        slack_user = str((payload.get("user") or {}).get("id") or "")
        reply = await (
            self._output(value, decision, team, slack_user)
            if "output_id" in value
            else self._tool(value, decision, team, slack_user)
        )
        await self._answer(payload, reply)
        return _response(200, reply)

    async def _answer(self, payload: Mapping[str, Any], reply: Mapping[str, Any]) -> None:
        url = str(payload.get("response_url") or "")
        if self.slack_api is None or not url:
            return
        try:
            await self.slack_api.respond(url, reply)
        except DexaError as exc:  # the decision stands; only the notice in Slack is lost
            logger.warning("could not answer the Slack interaction: %s", exc.message)

    async def _reviewer(self, team: str, slack_user: str, scope: str, org_id: str) -> str | None:
        found = await slack_reviewer(self.engine.store, team, slack_user, scope=scope)
        if found is None or found[0] != org_id:
            return None
        return found[1].id

    async def _tool(self, value: Mapping[str, Any], decision: str, team: str, slack_user: str) -> dict[str, Any]:
        if decision not in ("once", "always", "deny"):
            return refusal(f"Unknown decision {decision!r}.")
        session_id, approval_id = str(value.get("session_id") or ""), str(value.get("approval_id") or "")
        try:
            session = await self.engine.store.get_session(session_id)
        except NotFoundError:
            return refusal("This approval no longer exists.")
        user_id = await self._reviewer(team, slack_user, "approvals:write", session.org_id)
        if user_id is None:
            logger.warning(
                "Slack user %s (team %s) may not decide approvals of org %s", slack_user, team, session.org_id
            )
            return refusal("You are not a Dexa reviewer for this workspace; nothing was decided.")
        try:
            decided, won = await self.engine.resolve_approval(
                session_id,
                approval_id,
                allow=decision != "deny",
                scope="always" if decision == "always" else "once",
                by=user_id,
                message=f"via Slack ({slack_user})",
            )
        except NotFoundError:
            return refusal("This approval no longer exists.")
        if not won:
            return refusal(f"Already decided: {decided.status} by {decided.decided_by or 'someone else'}.")
        if self.notifier is not None:
            await self.notifier.notify(decided)
        return {
            "replace_original": True,
            "text": f"{decided.tool_name or 'Request'}: {decided.status} by <@{slack_user}>",
        }

    async def _output(self, value: Mapping[str, Any], decision: str, team: str, slack_user: str) -> dict[str, Any]:
        if decision not in ("approve", "reject") or self.outputs is None:
            return refusal("Staged outputs cannot be decided here.")
        queue, output_id = self.outputs(), str(value["output_id"])
        found = await slack_reviewer(self.engine.store, team, slack_user, scope="outputs:write")
        if found is None:
            return refusal("You are not a Dexa reviewer for this workspace; nothing was decided.")
        org_id, user = found
        try:
            await queue.get(org_id, output_id)  # another org's output id is unknown here
            if decision == "approve":
                await queue.approve(org_id, output_id, by=user.id)
            else:
                await queue.reject(org_id, output_id, by=user.id, reason=f"rejected in Slack by {slack_user}")
        except NotFoundError:
            return refusal("This output no longer exists.")
        except ConflictError:
            return refusal("Already decided.")
        verb = "approved" if decision == "approve" else "rejected"
        return {"replace_original": True, "text": f"Output {output_id} {verb} by <@{slack_user}>"}

    # ------------------------------------------------------------ GitHub

    async def github(self, event: Mapping[str, Any]) -> dict[str, Any]:
        body, headers = _raw_body(event), _headers(event)
        secret = self.secret("github")
        if not secret:
            return _response(500, {"error": "the GitHub webhook secret is not configured"})
        if not hmac.compare_digest(github_signature(secret, body), headers.get("x-hub-signature-256", "")):
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
