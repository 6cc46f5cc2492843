"""Telling reviewers something waits: a tool call asking for permission, or a staged output to review.

`ReviewNotifier` observes the engine's events (`TurnEngine.observers`). For `permission.required` and
`output.staged` it looks up the org's review channels (dexa.auth.org_links) and posts Approve/Reject buttons
to its Slack channel and mails single-use signed links to its reviewers. A session started by an email or a Slack
message (dexa.triggers.inbound) also tells the person who asked, where they asked: the Slack thread, or their
address. Whoever is told, only a reviewer's decision counts: a Slack click maps to a Dexa user allowed to
approve, and a link is redeemed by a signed-in reviewer. Each request is announced once, even
when a retried step emits its event again. A notice that cannot be sent is logged and never fails the turn: the
request still waits in the API and the web UI.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from dexa.auth.org_links import ReviewChannels, review_channels
from dexa.core.events import Event, EventType
from dexa.core.ports import Store

from .outputs.links import ApprovalLinks
from .slack_review import SlackApi, approval_message, output_message

logger = logging.getLogger(__name__)

NOTICES = "review_notices"
_SUMMARY_LIMIT = 1500


class Mailer(Protocol):
    async def send(self, *, to: Sequence[str], subject: str, text: str, html: str = "") -> str:
        """Send one message; returns the provider's message id."""
        ...


def _summary(data: Mapping[str, Any]) -> str:
    raw = data.get("preview") or json.dumps(data.get("input") or {}, indent=1, sort_keys=True)
    text = str(raw)
    return text if len(text) <= _SUMMARY_LIMIT else text[: _SUMMARY_LIMIT - 1] + "…"


@dataclass(frozen=True, slots=True)
class _Targets:
    slack: tuple[tuple[str, str], ...]  # (channel, thread ts or "")
    emails: tuple[str, ...]


def _with_requester(channels: ReviewChannels, extra: Mapping[str, Any]) -> _Targets:
    """The org's review channels, plus where a triggered session's requester asked (kept in its config)."""
    slack = [(channels.slack_channel, "")] if channels.slack_channel else []
    emails = list(channels.emails)
    reply = extra.get("reply_to") or {}
    if reply.get("slack_channel") and (reply["slack_channel"], "") not in slack:
        slack.append((str(reply["slack_channel"]), str(reply.get("slack_thread") or "")))
    if reply.get("email") and str(reply["email"]).lower() not in {e.lower() for e in emails}:
        emails.append(str(reply["email"]))
    return _Targets(slack=tuple(slack), emails=tuple(emails))


def _threaded(message: dict[str, Any], thread: str) -> dict[str, Any]:
    return {**message, "thread_ts": thread} if thread else message


class ReviewNotifier:
    def __init__(
        self,
        store: Store,
        *,
        slack: SlackApi | None = None,
        mailer: Mailer | None = None,
        links: Callable[[], ApprovalLinks | None] = lambda: None,
    ) -> None:
        """`links` gives the signed-link maker (built on first use, with the deployment's key and public URL)."""
        self.store, self.slack, self.mailer, self.links = store, slack, mailer, links

    async def __call__(self, event: Event) -> None:
        if event.type not in (EventType.PERMISSION_REQUIRED, EventType.OUTPUT_STAGED):
            return
        if self.slack is None and self.mailer is None:
            return
        try:
            await self._announce(event)
        except Exception:  # a side channel: the request still waits in the API, whatever happened here
            logger.exception("could not announce %s of session %s to reviewers", event.type, event.session_id)

    async def _announce(self, event: Event) -> None:
        data = event.data
        if event.type == EventType.OUTPUT_STAGED and data.get("auto"):
            return  # policy approves it at once; nobody needs to look
        session = await self.store.get_session(event.session_id)
        channels = _with_requester(await review_channels(self.store, session.org_id), session.config.extra)
        if not (channels.slack or channels.emails):
            return
        # A blocking output is both staged (output.staged) and parked as an approval (permission.required with its
        # output_id): keyed by the output, reviewers hear of it once, and either notice's answer decides the output.
        ident = str(data.get("output_id") or data.get("approval_id") or data.get("id") or "")
        if not ident or not await self.store.kv_put_if_absent(
            NOTICES, f"{event.session_id}:{ident}", {"seq": event.seq}, org_id=session.org_id
        ):
            return
        if event.type == EventType.PERMISSION_REQUIRED:
            await self._tool(session.org_id, event.session_id, ident, data, channels)
        else:
            await self._output(session.org_id, ident, data, channels)

    async def _tool(
        self, org_id: str, session_id: str, approval_id: str, data: Mapping[str, Any], channels: _Targets
    ) -> None:
        tool = str(data.get("tool_name") or "a tool")
        summary = _summary(data)
        for channel, thread in channels.slack if self.slack is not None else ():
            message = approval_message(
                channel, session_id=session_id, approval_id=approval_id, tool=tool, summary=summary
            )
            await self._post(_threaded(message, thread))
        links = self.links()
        if self.mailer is not None and channels.emails and links is not None:
            approve = links.tool_url(org_id, session_id, approval_id, "approve")
            reject = links.tool_url(org_id, session_id, approval_id, "reject")
            text = (
                f"Dexa asks to run {tool} in session {session_id}:\n\n{summary}\n\n"
                f"Approve (once): {approve}\n\nReject: {reject}\n\nEach link works once and expires in 24 hours."
            )
            await self._mail(channels.emails, f"Dexa needs approval: {tool}", text)

    async def _output(self, org_id: str, output_id: str, data: Mapping[str, Any], channels: _Targets) -> None:
        kind, summary = str(data.get("kind") or ""), _summary(data)
        links = self.links()
        review = links.url(org_id, output_id, "review") if links is not None else ""
        for channel, thread in channels.slack if self.slack is not None else ():
            message = output_message(channel, output_id=output_id, kind=kind, summary=summary, review_url=review)
            await self._post(_threaded(message, thread))
        if self.mailer is not None and channels.emails and links is not None:
            text = (
                f"Dexa staged a {kind or 'side effect'} for review ({output_id}):\n\n{summary}\n\n"
                f"Approve: {links.url(org_id, output_id, 'approve')}\n\n"
                f"Reject: {links.url(org_id, output_id, 'reject')}\n\nReview or edit first: {review}\n\n"
                "Each link works once and expires in 72 hours."
            )
            await self._mail(channels.emails, f"Dexa staged a {kind or 'side effect'} for review", text)

    async def _post(self, message: Mapping[str, Any]) -> None:
        assert self.slack is not None
        try:
            await self.slack.call("chat.postMessage", message)
        except Exception:
            logger.exception("could not post the review request to Slack channel %s", message.get("channel"))

    async def _mail(self, to: Sequence[str], subject: str, text: str) -> None:
        assert self.mailer is not None
        try:
            await self.mailer.send(to=list(to), subject=subject, text=text)
        except Exception:
            logger.exception("could not mail the review request to %d reviewer(s)", len(to))
