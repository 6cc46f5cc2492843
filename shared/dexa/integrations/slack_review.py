"""Approval requests in Slack: the Approve/Reject message Dexa posts, and what a click on it may decide.

`SlackApi` is the port (two calls: a Web API method, and a reply to an interaction's `response_url`);
`HttpSlackApi` speaks to https://slack.com/api over httpx, or to any base URL (a local fake in tests).
The button values are JSON that a click hands back (dexa.integrations.slack_clicks reads them):
    tool approval    {"session_id", "approval_id", "decision": "once" | "deny"}
    staged output    {"output_id", "decision": "approve" | "reject"}
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any, Protocol

from dexa.core.errors import ConfigError, DexaError

logger = logging.getLogger(__name__)

SLACK_API = "https://slack.com/api"
_TEXT_LIMIT = 2900  # a section's text may hold 3000 characters


class SlackError(DexaError):
    """Slack answered `ok: false` or could not be reached."""


class SlackApi(Protocol):
    async def call(self, method: str, payload: Mapping[str, Any]) -> dict[str, Any]:
        """A Web API method (e.g. chat.postMessage). Raises SlackError unless Slack answers `ok: true`."""
        ...

    async def respond(self, response_url: str, payload: Mapping[str, Any]) -> None:
        """Answer an interaction through its response_url (ephemeral notices, message updates)."""
        ...


class HttpSlackApi:
    def __init__(self, token: str, *, http: Any, base_url: str = SLACK_API) -> None:
        if not token:
            raise ConfigError("Slack posting needs a bot token (DEXA_SLACK_BOT_TOKEN or its secret)")
        self._token, self._http, self.base_url = token, http, base_url.rstrip("/")

    async def call(self, method: str, payload: Mapping[str, Any]) -> dict[str, Any]:
        try:
            resp = await self._http.post(
                f"{self.base_url}/{method}",
                json=dict(payload),
                headers={"Authorization": f"Bearer {self._token}", "Content-Type": "application/json; charset=utf-8"},
            )
            body = resp.json()
        except Exception as exc:  # httpx errors and non-JSON answers alike
            raise SlackError(f"Slack {method} failed: {type(exc).__name__}: {exc}") from exc
        if not body.get("ok"):
            raise SlackError(f"Slack {method} answered {body.get('error') or resp.status_code}")
        return body

    async def respond(self, response_url: str, payload: Mapping[str, Any]) -> None:
        try:
            await self._http.post(response_url, json=dict(payload))
        except Exception as exc:
            raise SlackError(f"Slack response_url failed: {type(exc).__name__}: {exc}") from exc


def _button(text: str, value: Mapping[str, str], action: str, style: str) -> dict[str, Any]:
    return {
        "type": "button",
        "text": {"type": "plain_text", "text": text},
        "action_id": f"dexa_{action}",
        "value": json.dumps(dict(value), sort_keys=True),
        "style": style,
    }


def _clip(text: str) -> str:
    return text if len(text) <= _TEXT_LIMIT else text[: _TEXT_LIMIT - 1] + "…"


def approval_message(channel: str, *, session_id: str, approval_id: str, tool: str, summary: str) -> dict[str, Any]:
    """chat.postMessage arguments for a tool call waiting for a decision."""
    ids = {"session_id": session_id, "approval_id": approval_id}
    text = f"Dexa asks to run *{tool}* in session `{session_id}`"
    return {
        "channel": channel,
        "text": text,  # the notification / fallback text
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": _clip(f"{text}\n```{summary}```")}},
            {
                "type": "actions",
                "block_id": f"dexa_approval_{approval_id}"[:255],
                "elements": [
                    _button("Approve", {**ids, "decision": "once"}, "approve", "primary"),
                    _button("Reject", {**ids, "decision": "deny"}, "reject", "danger"),
                ],
            },
        ],
    }


def output_message(channel: str, *, output_id: str, kind: str, summary: str, review_url: str = "") -> dict[str, Any]:
    """chat.postMessage arguments for a staged output (an email, invite, CRM update...) waiting for review."""
    text = f"Dexa staged a {kind or 'side effect'} for review (`{output_id}`)"
    more = f"\n<{review_url}|Review and edit>" if review_url else ""
    return {
        "channel": channel,
        "text": text,
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": _clip(f"{text}\n```{summary}```{more}")}},
            {
                "type": "actions",
                "block_id": f"dexa_output_{output_id}"[:255],
                "elements": [
                    _button("Approve", {"output_id": output_id, "decision": "approve"}, "approve", "primary"),
                    _button("Reject", {"output_id": output_id, "decision": "reject"}, "reject", "danger"),
                ],
            },
        ],
    }


def refusal(text: str) -> dict[str, Any]:
    """An ephemeral reply: only the clicking user sees it, and the original message stays as it was."""
    return {"response_type": "ephemeral", "replace_original": False, "text": text}
