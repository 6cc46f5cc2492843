"""A click on the Approve/Reject buttons dexa.integrations.slack_review posts: what it may decide, and for whom.

A click authenticates by Slack's signature over the raw body (the app's signing secret), never by API key, and
decides only when the clicking Slack user maps to a Dexa user of the approval's org who may approve
(dexa.auth.org_links); anyone else gets an ephemeral refusal and nothing changes. A decision is made exactly once.
A tool decision is then released to whatever parks the turn (the Step Functions callback in the cloud, the local
driver under `dexa serve`). The same class serves both: the webhooks Lambda (dexa.cloud.webhooks) and
`POST /webhooks/slack` (dexa.api.inbound) only carry the request to it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
import urllib.parse
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from dexa.auth.org_links import slack_reviewer
from dexa.core.engine import TurnEngine
from dexa.core.errors import ConflictError, DexaError, NotFoundError
from dexa.core.session import Approval

from .slack_review import SlackApi, refusal

logger = logging.getLogger(__name__)

SLACK_MAX_SKEW_S = 300
QueueFn = Callable[[], Any]  # () -> dexa.integrations.outputs.queue.OutputQueue (built on first use)
Answer = tuple[int, dict[str, Any]]  # HTTP status, JSON body


class ApprovalRelease(Protocol):
    """Lets a parked turn go on once its approval is decided."""

    async def notify(self, approval: Approval) -> object: ...


def slack_signature(secret: str, timestamp: str, body: bytes) -> str:
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


class SlackClicks:
    def __init__(
        self,
        engine: TurnEngine,
        release: ApprovalRelease | None,
        secret: Callable[[], str],
        *,
        clock: Callable[[], float] = time.time,
        slack: SlackApi | None = None,
        outputs: QueueFn | None = None,
    ) -> None:
        """`secret` gives the signing secret (read when a click arrives); `slack` answers the click through its
        response_url; `outputs` gives the staged-output queue (None: outputs cannot be decided here)."""
        self.engine, self.release, self.secret, self.clock = engine, release, secret, clock
        self.slack_api, self.outputs = slack, outputs

    async def handle(self, headers: Mapping[str, str], body: bytes) -> Answer:
        headers = {k.lower(): v for k, v in headers.items()}
        secret = self.secret()
        timestamp = headers.get("x-slack-request-timestamp", "")
        if not secret:
            return 500, {"error": "the Slack signing secret is not configured"}
        if not timestamp.isdigit() or abs(self.clock() - int(timestamp)) > SLACK_MAX_SKEW_S:
            return 401, {"error": "stale or missing X-Slack-Request-Timestamp"}
        if not hmac.compare_digest(slack_signature(secret, timestamp, body), headers.get("x-slack-signature", "")):
            return 401, {"error": "bad X-Slack-Signature"}
        form = urllib.parse.parse_qs(body.decode("utf-8", "replace"))
        try:
            payload = json.loads(form["payload"][0])
            value = json.loads(payload["actions"][0]["value"])
            decision = str(value["decision"])
        except (KeyError, IndexError, ValueError, TypeError) as exc:
            return 400, {"error": f"not a Dexa approval action: {type(exc).__name__}: {exc}"}
        team = str((payload.get("team") or {}).get("id") or (payload.get("user") or {}).get("team_id") or "")
        slack_user = str((payload.get("user") or {}).get("id") or "")
        reply = await (
            self._output(value, decision, team, slack_user)
            if "output_id" in value
            else self._tool(value, decision, team, slack_user)
        )
        await self._answer(payload, reply)
        return 200, reply

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
        if self.release is not None:
            await self.release.notify(decided)
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
