"""The answer goes back where the work was asked for: a session started by an email or a Slack message
(dexa.triggers.inbound keeps `reply_to` in its config) replies with each turn's final text, in the Slack thread or
by mail to the sender, once per turn (a retried end-of-turn step emits its event again). Like reviewer notices,
a reply that cannot be sent is logged and never fails the turn.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from dexa.core.events import Event, EventType
from dexa.core.ports import Store

from .review_notify import Mailer
from .slack_review import SlackApi

logger = logging.getLogger(__name__)

REPLIES = "trigger_replies"
_SLACK_LIMIT = 3500  # a message's text may hold 4000 characters
_MAIL_LIMIT = 100_000


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


class TriggerReplies:
    def __init__(
        self,
        store: Store,
        *,
        slack: SlackApi | None = None,
        mailer: Mailer | None = None,
        base_url: str | Callable[[], str] = "",
    ) -> None:
        """`base_url` may be a function: the runtime's public URL is looked up on first use (an SSM read)."""
        self.store, self.slack, self.mailer, self._base_url = store, slack, mailer, base_url

    @property
    def base_url(self) -> str:
        url = self._base_url if isinstance(self._base_url, str) else self._base_url()
        return url.rstrip("/")

    async def __call__(self, event: Event) -> None:
        if event.type not in (EventType.TURN_COMPLETED, EventType.TURN_FAILED):
            return
        try:
            await self._reply(event)
        except Exception:  # a side channel: the answer is in the session whatever happens here
            logger.exception("could not send the answer of session %s to whoever asked", event.session_id)

    async def _reply(self, event: Event) -> None:
        session = await self.store.get_session(event.session_id)
        reply: Mapping[str, Any] = session.config.extra.get("reply_to") or {}
        if not reply or session.parent_id:
            return
        key = f"{session.id}:{event.data.get('turn', event.seq)}"
        if not await self.store.kv_put_if_absent(REPLIES, key, {"seq": event.seq}, org_id=session.org_id):
            return
        failed = event.type == EventType.TURN_FAILED
        answer = str(event.data.get("error") if failed else event.data.get("result") or "") or "Done."
        link = f"{self.base_url}/ui/sessions/{session.id}" if self.base_url else f"session {session.id}"
        text = ("I could not finish: " if failed else "") + answer
        if reply.get("slack_channel") and self.slack is not None:
            message = {
                "channel": str(reply["slack_channel"]),
                "thread_ts": str(reply.get("slack_thread") or ""),
                "text": _clip(f"{text}\n\n<{link}|Session>" if self.base_url else f"{text}\n\n({link})", _SLACK_LIMIT),
            }
            await self.slack.call("chat.postMessage", message)
        if reply.get("email") and self.mailer is not None:
            subject = session.title.removeprefix("email: ") or "your request"
            body = _clip(f"{text}\n\n{link}", _MAIL_LIMIT)
            await self.mailer.send(to=[str(reply["email"])], subject=f"Re: {subject}", text=body)
