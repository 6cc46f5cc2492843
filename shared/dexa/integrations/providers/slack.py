"""Slack Web API provider. Slack answers HTTP 200 with `ok: false` on errors, so every body is checked."""

from __future__ import annotations

from typing import Any

from dexa.core.errors import NotFoundError, PermissionDeniedError, ToolError

from .base import Doc
from .http import RestClient

SLACK_API = "https://slack.com/api"


def _check(body: dict[str, Any], method: str) -> dict[str, Any]:
    if body.get("ok"):
        return body
    error = str(body.get("error", "unknown_error"))
    if error in ("channel_not_found", "thread_not_found", "message_not_found"):
        raise NotFoundError(f"Slack {method}: {error}")
    if error == "missing_scope":
        # Slack names the scope the token lacks (e.g. groups:history for a private channel).
        needed = body.get("needed") or "?"
        raise PermissionDeniedError(f"Slack {method}: missing_scope {needed}; reconnect Slack granting it")
    if error in ("not_authed", "invalid_auth", "token_revoked", "not_in_channel"):
        raise PermissionDeniedError(f"Slack {method}: {error}")
    raise ToolError(f"Slack {method}: {error}")


def normalize_message(raw: dict[str, Any], channel: str) -> Doc:
    return {
        "ts": raw.get("ts", ""),
        "channel": channel,
        "user": raw.get("user") or raw.get("bot_id") or "",
        "text": raw.get("text", ""),
        "thread_ts": raw.get("thread_ts"),
    }


class SlackProvider:
    def __init__(self, rest: RestClient) -> None:
        self.rest = rest
        self._ids: dict[str, str] = {}

    async def _channel_id(self, channel: str) -> str:
        if not channel.startswith("#"):
            return channel
        name = channel[1:]
        if name in self._ids:
            return self._ids[name]
        cursor: str | None = None
        for _ in range(50):
            body = _check(
                await self.rest.request(
                    "GET",
                    "/conversations.list",
                    params={
                        "limit": 200,
                        "cursor": cursor,
                        "exclude_archived": "true",
                        "types": "public_channel,private_channel",
                    },
                ),
                "conversations.list",
            )
            for item in body.get("channels", []):
                self._ids[item["name"]] = item["id"]
            cursor = (body.get("response_metadata") or {}).get("next_cursor") or None
            if name in self._ids or not cursor:
                break
        if name not in self._ids:
            raise NotFoundError(f"Slack channel {channel} not found (is the Dexa app invited to it?)")
        return self._ids[name]

    async def read_channel(self, channel: str, *, limit: int = 50) -> list[Doc]:
        cid = await self._channel_id(channel)
        body = _check(
            await self.rest.request("GET", "/conversations.history", params={"channel": cid, "limit": limit}),
            "conversations.history",
        )
        return [normalize_message(m, channel) for m in body.get("messages", [])]

    async def read_thread(self, channel: str, thread_ts: str) -> list[Doc]:
        cid = await self._channel_id(channel)
        body = _check(
            await self.rest.request("GET", "/conversations.replies", params={"channel": cid, "ts": thread_ts}),
            "conversations.replies",
        )
        return [normalize_message(m, channel) for m in body.get("messages", [])]

    async def send_message(self, channel: str, text: str, *, thread_ts: str | None = None) -> Doc:
        cid = await self._channel_id(channel)
        # Form-encoded, as Slack's published description of chat.postMessage specifies.
        payload = {"channel": cid, "text": text, "unfurl_links": "false"}
        if thread_ts:
            payload["thread_ts"] = thread_ts
        body = _check(await self.rest.request("POST", "/chat.postMessage", data=payload), "chat.postMessage")
        return {"ts": body.get("ts", ""), "channel": channel, "text": text, "thread_ts": thread_ts}
