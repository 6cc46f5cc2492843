"""`dexa serve`'s inbound mail listener: an SMTP server (aiosmtpd) whose accepted messages start sessions.

Off unless DEXA_INBOUND_SMTP_PORT is set; it binds DEXA_INBOUND_SMTP_HOST (127.0.0.1 by default: put it behind
the org's MTA, which checks SPF/DKIM, rather than on the open internet). A recipient no org receives mail at is
refused at RCPT (550 5.1.1); a message from a sender the org does not accept is refused after DATA (550 5.7.1),
so the sending MTA bounces it to the sender with the reason. It runs on the engine's loop, where sessions start.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from dexa.core.errors import ConfigError

from .email import EmailTriggers, parse_message

logger = logging.getLogger(__name__)

ENV_PORT = "DEXA_INBOUND_SMTP_PORT"
ENV_HOST = "DEXA_INBOUND_SMTP_HOST"
MAX_MESSAGE_BYTES = 10 * 1024 * 1024


def _line(text: str) -> str:
    """An SMTP reply text is one line: a reason must not smuggle in CR/LF."""
    return " ".join(text.split())[:400]


class TriggerHandler:
    """aiosmtpd handler hooks (handle_RCPT / handle_DATA) over EmailTriggers."""

    def __init__(self, triggers: EmailTriggers) -> None:
        self.triggers = triggers

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]) -> str:
        if await self.triggers.org_for([address]) is None:
            return f"550 5.1.1 <{_line(address)}>: no Dexa org receives mail here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw = envelope.original_content or envelope.content or b""
        try:
            mail = parse_message(raw if isinstance(raw, bytes) else raw.encode(), envelope_to=envelope.rcpt_tos)
        except ConfigError as exc:
            return f"550 5.6.0 {_line(exc.message)}"
        try:
            result = await self.triggers.handle(mail)
        except Exception:  # the sender's MTA retries a 451 later; the session may still start then
            logger.exception("inbound mail %s could not start a session", mail.message_id)
            return "451 4.3.0 could not start the session; try again later"
        if result.status == "rejected":
            return f"550 5.7.1 {_line(result.reason)}"
        return f"250 OK {result.status} {result.session_id or ''}".rstrip()


def listen_address(env: Mapping[str, str]) -> tuple[str, int] | None:
    """(host, port) when the listener is configured, else None.

    Raises:
        ConfigError: a port that is not a number.
    """
    raw = env.get(ENV_PORT, "").strip()
    if not raw:
        return None
    if not raw.isdigit():
        raise ConfigError(f"{ENV_PORT} must be a port number, got {raw!r}")
    return env.get(ENV_HOST, "") or "127.0.0.1", int(raw)


async def start_listener(triggers: EmailTriggers, host: str, port: int) -> asyncio.Server:
    """Listen on (host, port) on the running loop; the caller closes the returned server.

    Raises:
        ConfigError: aiosmtpd is missing (install `dexa[mail]`), or the port cannot be bound.
    """
    try:
        from aiosmtpd.smtp import SMTP
    except ImportError as exc:
        raise ConfigError(f"{ENV_PORT} is set but aiosmtpd is not installed: pip install 'dexa[mail]'") from exc
    handler = TriggerHandler(triggers)
    loop = asyncio.get_running_loop()
    try:
        server = await loop.create_server(
            lambda: SMTP(handler, data_size_limit=MAX_MESSAGE_BYTES, hostname="dexa", loop=loop), host, port
        )
    except OSError as exc:
        raise ConfigError(f"inbound mail cannot listen on {host}:{port}: {exc.strerror}") from exc
    bound = server.sockets[0].getsockname()
    logger.warning("dexa serve: receiving trigger mail on smtp://%s:%s", bound[0], bound[1])
    return server
