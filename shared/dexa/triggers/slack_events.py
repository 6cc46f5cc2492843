"""Work started from Slack: a mention of the Dexa app in a channel, or a direct message to it (Events API).

`SlackEvents.handle(headers, body)` answers Slack's POST:
    401  a missing, stale (> 5 min) or wrong v0 signature
    200  {"challenge"} for url_verification
    200  {"status": "ignored"} for a retry (Slack retries what it thinks timed out; the first delivery already
         counted), an event that starts nothing (bot messages, edits, other channels' chatter) or an unlinked team
    200  {"status": "duplicate"} for an event_id seen before
    200  {"status": "started", "session_id"} or {"status": "rejected", "reason"}
The team maps to an org (the review channels' Slack team, dexa.auth.org_links) and the Slack user to a Dexa
user (PUT /slack-users); a user nobody mapped is refused unless the org routes them to a user (kv `slack_trigger`
`config` {unknown_user}). The requester hears back in the thread they asked in.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import time
from collections.abc import Callable, Mapping
from typing import Any

from dexa.auth.org_links import SLACK_TEAMS, SLACK_USERS
from dexa.core.errors import DexaError
from dexa.core.ports import KeyValueStore
from dexa.integrations.slack_review import SlackApi

from .inbound import InboundTask, Starter

logger = logging.getLogger(__name__)

EVENTS_NS = "slack_events"  # global: event_id -> {team}
SLACK_TRIGGER = "slack_trigger"
MAX_SKEW_S = 300
REJECT = "reject"
_MENTION = re.compile(r"<@[A-Z0-9]+(?:\|[^>]*)?>")


def signature(secret: str, timestamp: str, body: bytes) -> str:
    return "v0=" + hmac.new(secret.encode(), b"v0:" + timestamp.encode() + b":" + body, hashlib.sha256).hexdigest()


def verified(secret: str, headers: Mapping[str, str], body: bytes, now: float) -> str:
    """ "" when the request is Slack's, else why not."""
    timestamp = headers.get("x-slack-request-timestamp", "")
    if not timestamp.isdigit() or abs(now - int(timestamp)) > MAX_SKEW_S:
        return "stale or missing X-Slack-Request-Timestamp"
    if not hmac.compare_digest(signature(secret, timestamp, body), headers.get("x-slack-signature", "")):
        return "bad X-Slack-Signature"
    return ""


async def set_slack_trigger(kv: KeyValueStore, org_id: str, *, unknown_user: str = REJECT) -> dict[str, Any]:
    """How the org treats Slack users nobody mapped: refuse them, or run their requests as `unknown_user`.

    Raises:
        PermissionDeniedError: `unknown_user` may not start sessions.
    """
    from .inbound import requester

    if unknown_user != REJECT:
        await requester(kv, org_id, unknown_user)
    doc = {"unknown_user": unknown_user}
    await kv.kv_put(SLACK_TRIGGER, "config", doc, org_id=org_id)
    return doc


def _request(event: Mapping[str, Any]) -> str | None:
    """The text of an event that asks Dexa something, or None."""
    if event.get("bot_id") or event.get("subtype"):
        return None  # bots (Dexa's own replies included), edits, joins: never a request
    kind = event.get("type")
    if kind == "app_mention" or (kind == "message" and event.get("channel_type") == "im"):
        return _MENTION.sub("", str(event.get("text") or "")).strip()
    return None


class SlackEvents:
    def __init__(
        self,
        kv: KeyValueStore,
        start: Starter,
        *,
        secret: Callable[[], str],
        slack: SlackApi | None = None,
        session_url: Callable[[str], str] = lambda _s: "",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.kv, self.start, self.secret, self.slack = kv, start, secret, slack
        self.session_url, self.clock = session_url, clock

    async def handle(self, headers: Mapping[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
        headers = {k.lower(): v for k, v in headers.items()}
        secret = self.secret()
        if not secret:
            return 500, {"error": "the Slack signing secret is not configured (DEXA_SLACK_SIGNING_SECRET)"}
        why = verified(secret, headers, body, self.clock())
        if why:
            return 401, {"error": why}
        try:
            payload = json.loads(body)
            assert isinstance(payload, dict)
        except (ValueError, AssertionError):
            return 400, {"error": "the body is not a JSON object"}
        if payload.get("type") == "url_verification":
            return 200, {"challenge": str(payload.get("challenge") or "")}
        if headers.get("x-slack-retry-num"):
            return 200, {"status": "ignored", "reason": f"retry {headers['x-slack-retry-num']} of a delivery"}
        event = payload.get("event")
        event_id = str(payload.get("event_id") or "")
        if payload.get("type") != "event_callback" or not isinstance(event, dict) or not event_id:
            return 200, {"status": "ignored", "reason": f"{payload.get('type')!r} starts nothing"}
        text = _request(event)
        if not text:
            return 200, {"status": "ignored", "reason": "not a mention or direct message"}
        team = str(payload.get("team_id") or event.get("team") or "")
        if not await self.kv.kv_put_if_absent(EVENTS_NS, event_id, {"team": team}):
            return 200, {"status": "duplicate"}
        try:
            return 200, await self._start(team, event, event_id, text)
        except BaseException:
            await self.kv.kv_delete(EVENTS_NS, event_id)  # let Slack's next delivery (or a resend) try again
            raise

    async def _start(self, team: str, event: Mapping[str, Any], event_id: str, text: str) -> dict[str, Any]:
        linked = await self.kv.kv_get(SLACK_TEAMS, team) if team else None
        if linked is None:
            return {"status": "ignored", "reason": f"Slack team {team or '?'} is not linked to a Dexa org"}
        org_id, slack_user = str(linked["org_id"]), str(event.get("user") or "")
        channel, thread = str(event.get("channel") or ""), str(event.get("thread_ts") or event.get("ts") or "")
        user_id = await self._user(org_id, slack_user)
        if user_id is None:
            await self._say(channel, thread, "I can only take requests from Slack users an admin linked to Dexa.")
            return {"status": "rejected", "reason": f"Slack user {slack_user} is not linked to a Dexa user"}
        task = InboundTask(
            org_id=org_id,
            user_id=user_id,
            prompt=text,
            requested_by=f"slack:{team}/{slack_user}",
            source="slack",
            reply_to={"slack_channel": channel, "slack_thread": thread},
        )
        try:
            session_id = await self.start(task)
        except DexaError as exc:
            await self._say(channel, thread, f"I could not start that: {exc.message}")
            return {"status": "rejected", "reason": exc.message}
        url = self.session_url(session_id)
        await self._say(channel, thread, f"On it: {url}" if url else f"On it (session `{session_id}`).")
        logger.info("slack event %s started session %s", event_id, session_id)
        return {"status": "started", "session_id": session_id}

    async def _user(self, org_id: str, slack_user: str) -> str | None:
        mapped = await self.kv.kv_get(SLACK_USERS, slack_user, org_id=org_id) if slack_user else None
        if mapped is not None:
            return str(mapped["user_id"])
        policy = await self.kv.kv_get(SLACK_TRIGGER, "config", org_id=org_id) or {}
        fallback = str(policy.get("unknown_user") or REJECT)
        return None if fallback == REJECT else fallback

    async def _say(self, channel: str, thread: str, text: str) -> None:
        if self.slack is None or not channel:
            return
        try:
            await self.slack.call("chat.postMessage", {"channel": channel, "thread_ts": thread, "text": text})
        except DexaError as exc:  # the session runs anyway; only the acknowledgement is lost
            logger.warning("could not answer in Slack channel %s: %s", channel, exc.message)
