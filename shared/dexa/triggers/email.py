"""Work started by an email to an org's address (`dexa serve`'s SMTP listener, or SES inbound in the cloud).

    email_addresses  global  address        -> {org_id}
    email_trigger    org     "config"       -> {address, senders: {email: user_id}, unknown_sender}

An address belongs to one org (claiming one another org holds is a ConflictError). The sender's address maps to
the Dexa user the session runs as; mail from an address no one mapped is refused unless the org routes it to a
user (`unknown_sender`: "reject" or a user id). A From header is only as good as the path the mail took: the
cloud handler requires SES's SPF or DKIM verdict to pass, and the local listener is meant to sit behind the org's
own MTA (it binds 127.0.0.1 unless told otherwise).
"""

from __future__ import annotations

import hashlib
import html
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from email.utils import getaddresses, parseaddr
from typing import Any, Literal

from dexa.core.errors import ConfigError, ConflictError, DexaError
from dexa.core.ports import KeyValueStore

from .inbound import InboundTask, Starter, claim, release, requester

logger = logging.getLogger(__name__)

ADDRESSES = "email_addresses"
EMAIL_TRIGGER = "email_trigger"
CONFIG = "config"
REJECT = "reject"
_BODY_LIMIT = 20_000
_ADDRESS = re.compile(r"^[^@\s<>,;\"]+@[^@\s<>,;\"]+\.[^@\s<>,;\"]+$")


def _address(value: str, what: str) -> str:
    addr = parseaddr(value)[1].strip().lower()
    if not _ADDRESS.match(addr):
        raise ConfigError(f"{what} must be an email address, got {value!r}")
    return addr


async def set_email_trigger(
    kv: KeyValueStore,
    org_id: str,
    *,
    address: str,
    senders: Mapping[str, str],
    unknown_sender: str = REJECT,
) -> dict[str, Any]:
    """Mail to `address` starts sessions in the org, as the user its sender maps to.

    Raises:
        ConfigError: a malformed address.
        NotFoundError: a mapped user (or the unknown-sender user) who is not in the org.
        PermissionDeniedError: a mapped user (or the unknown-sender user) who may not start sessions.
        ConflictError: another org receives mail at `address`.
    """
    addr = _address(address, "address")
    mapped = {_address(k, "sender"): str(v) for k, v in senders.items()}
    for user_id in {*mapped.values(), *([unknown_sender] if unknown_sender != REJECT else [])}:
        await requester(kv, org_id, user_id)
    if not await kv.kv_put_if_absent(ADDRESSES, addr, {"org_id": org_id}):
        held = await kv.kv_get(ADDRESSES, addr) or {}
        if held.get("org_id") != org_id:
            raise ConflictError(f"{addr} already receives mail for another org")
    old = await kv.kv_get(EMAIL_TRIGGER, CONFIG, org_id=org_id) or {}
    if old.get("address") and old["address"] != addr:
        await kv.kv_delete(ADDRESSES, str(old["address"]))
    doc = {"address": addr, "senders": mapped, "unknown_sender": unknown_sender}
    await kv.kv_put(EMAIL_TRIGGER, CONFIG, doc, org_id=org_id)
    return doc


async def get_email_trigger(kv: KeyValueStore, org_id: str) -> dict[str, Any] | None:
    return await kv.kv_get(EMAIL_TRIGGER, CONFIG, org_id=org_id)


@dataclass(frozen=True, slots=True, kw_only=True)
class InboundMail:
    message_id: str
    sender: str
    recipients: tuple[str, ...]
    subject: str
    text: str


def _text(msg: EmailMessage) -> str:
    part = msg.get_body(preferencelist=("plain", "html"))
    if part is None:
        return ""
    body = str(part.get_content())  # pyright: ignore[reportUnknownMemberType]
    if part.get_content_type() == "text/html":
        body = html.unescape(re.sub(r"<[^>]+>", " ", re.sub(r"(?is)<(script|style).*?</\1>", "", body)))
    return body.strip()[:_BODY_LIMIT]


def parse_message(raw: bytes, *, envelope_to: Iterable[str] = ()) -> InboundMail:
    """The parts of a MIME message a trigger needs. Recipients are the envelope's when given (Bcc and
    forwarding leave the org's address out of the headers), else To and Cc.

    Raises:
        ConfigError: no sender address.
    """
    msg = message_from_bytes(raw, policy=default_policy)
    assert isinstance(msg, EmailMessage)
    sender = parseaddr(str(msg.get("From", "")))[1].strip().lower()
    if "@" not in sender:
        raise ConfigError("the message has no From address")
    headers = [str(v) for key in ("To", "Cc") for v in msg.get_all(key, [])]
    recipients = [a.lower() for a in envelope_to] or [a.lower() for _n, a in getaddresses(headers) if a]
    message_id = str(msg.get("Message-ID", "")).strip() or "sha256:" + hashlib.sha256(raw).hexdigest()
    return InboundMail(
        message_id=message_id,
        sender=sender,
        recipients=tuple(recipients),
        subject=str(msg.get("Subject", "")).strip(),
        text=_text(msg),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class EmailResult:
    status: Literal["started", "duplicate", "rejected"]
    reason: str = ""
    session_id: str | None = None
    org_id: str | None = None


def mail_prompt(mail: InboundMail, address: str) -> str:
    parts = [mail.subject, "", mail.text] if mail.text else [mail.subject]
    parts += ["", f"(This request came by email from {mail.sender} to {address}, subject {mail.subject!r}.)"]
    return "\n".join(parts).strip()


class EmailTriggers:
    def __init__(self, kv: KeyValueStore, start: Starter) -> None:
        self.kv, self.start = kv, start

    async def org_for(self, recipients: Iterable[str]) -> tuple[str, str] | None:
        """(org id, address) of the first recipient an org receives mail at."""
        for addr in recipients:
            doc = await self.kv.kv_get(ADDRESSES, addr.lower())
            if doc is not None:
                return str(doc["org_id"]), addr.lower()
        return None

    async def sender_user(self, org_id: str, sender: str) -> tuple[str, bool] | None:
        """(user id, mapped?) the sender acts as, or None when the org refuses unmapped senders."""
        doc = await get_email_trigger(self.kv, org_id) or {}
        user = (doc.get("senders") or {}).get(sender.lower())
        if user:
            return str(user), True
        fallback = str(doc.get("unknown_sender") or REJECT)
        return None if fallback == REJECT else (fallback, False)

    async def handle(self, mail: InboundMail, *, authenticated: bool = True) -> EmailResult:
        """Start a session for one delivered message (once per Message-ID and org)."""
        if not authenticated:
            return EmailResult(status="rejected", reason=f"mail claiming to be from {mail.sender} failed SPF and DKIM")
        found = await self.org_for(mail.recipients)
        if found is None:
            return EmailResult(status="rejected", reason=f"no Dexa org receives mail at {', '.join(mail.recipients)}")
        org_id, address = found
        who = await self.sender_user(org_id, mail.sender)
        if who is None:
            logger.warning("mail to %s from unmapped sender %s refused", address, mail.sender)
            return EmailResult(status="rejected", reason=f"{mail.sender} is not a known sender", org_id=org_id)
        user_id, mapped = who
        if not await claim(self.kv, org_id, "email", mail.message_id):
            return EmailResult(status="duplicate", reason="message already processed", org_id=org_id)
        task = InboundTask(
            org_id=org_id,
            user_id=user_id,
            prompt=mail_prompt(mail, address),
            requested_by=f"email:{mail.sender}" + ("" if mapped else " (unmapped sender)"),
            source="email",
            title=f"email: {mail.subject or mail.sender}"[:120],
            reply_to={"email": mail.sender},
        )
        try:
            session_id = await self.start(task)
        except DexaError as exc:
            await release(self.kv, org_id, "email", mail.message_id)
            return EmailResult(status="rejected", reason=exc.message, org_id=org_id)
        except BaseException:
            await release(self.kv, org_id, "email", mail.message_id)
            raise
        return EmailResult(status="started", session_id=session_id, org_id=org_id)
