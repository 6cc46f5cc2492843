"""Recording stand-ins for the review notifier's Slack and mail ports (what was posted and sent, nothing more)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


class Slack:
    def __init__(self) -> None:
        self.posts: list[dict[str, Any]] = []

    async def call(self, method: str, payload: Mapping[str, Any]) -> dict[str, Any]:
        self.posts.append(dict(payload))
        return {"ok": True}

    async def respond(self, response_url: str, payload: Mapping[str, Any]) -> None:
        return None


class Mailer:
    def __init__(self) -> None:
        self.sent: list[tuple[list[str], str, str]] = []

    async def send(self, *, to: Sequence[str], subject: str, text: str, html: str = "") -> str:
        self.sent.append((list(to), subject, text))
        return "<id@x>"
