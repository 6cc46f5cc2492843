"""Short-lived, single-use tickets for the workspace terminal's WebSocket.

Browsers cannot set an Authorization header on a WebSocket, and a cookie would let any site open one in the user's
name (cross-site WebSocket hijacking), so a client that holds a key first asks for a ticket over ordinary HTTP and
passes it in the query string. A ticket names the org, session, user and key, lives a minute, is signed with a key
kept in the Store and is spent on first use (a claim on its nonce), so a ticket that leaks into a log is worthless.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from dexa.core.errors import PermissionDeniedError
from dexa.core.ports import KeyValueStore

from .shares import signing_key

KEY_NAME = "terminal_tickets"
USED = "terminal_tickets_used"
TTL_S = 60


@dataclass(frozen=True, slots=True, kw_only=True)
class Ticket:
    org_id: str
    session_id: str
    user_id: str
    key_id: str
    expires_at: float
    nonce: str


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _sign(key: bytes, body: str) -> str:
    return _b64(hmac.new(key, body.encode(), hashlib.sha256).digest())


class TerminalTickets:
    def __init__(self, kv: KeyValueStore, *, clock: Callable[[], float] = time.time) -> None:
        self.kv = kv
        self.clock = clock

    async def issue(self, *, org_id: str, session_id: str, user_id: str, key_id: str) -> tuple[str, float]:
        expires = self.clock() + TTL_S
        claims = {"o": org_id, "s": session_id, "u": user_id, "k": key_id, "e": expires, "n": secrets.token_hex(12)}
        body = _b64(json.dumps(claims, separators=(",", ":"), sort_keys=True).encode())
        return f"{body}.{_sign(await signing_key(self.kv, KEY_NAME), body)}", expires

    async def redeem(self, token: str, session_id: str) -> Ticket:
        """The ticket's claims, spent. Raises PermissionDeniedError (code unauthenticated) for a forged, expired,
        reused or other session's ticket, alike."""
        refused = PermissionDeniedError("invalid, expired or already used terminal ticket", code="unauthenticated")
        try:
            body, sig = token.split(".", 1)
            if not hmac.compare_digest(sig, _sign(await signing_key(self.kv, KEY_NAME), body)):
                raise refused
            raw = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
            ticket = Ticket(
                org_id=str(raw["o"]),
                session_id=str(raw["s"]),
                user_id=str(raw["u"]),
                key_id=str(raw["k"]),
                expires_at=float(raw["e"]),
                nonce=str(raw["n"]),
            )
        except (ValueError, KeyError, TypeError, json.JSONDecodeError) as exc:
            raise refused from exc
        if ticket.session_id != session_id or self.clock() > ticket.expires_at:
            raise refused
        if not await self.kv.kv_put_if_absent(USED, ticket.nonce, {"at": self.clock()}, org_id=ticket.org_id):
            raise refused
        return ticket
