"""Signed, expiring, single-use approval links for Slack and email reviewers.

A link carries `org`, `output id`, `action`, expiry and a nonce, signed with HMAC-SHA256. Opening it (`peek`) shows
the review page without spending it; `redeem` spends it once (a kv claim on the nonce) and performs the action.
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
from typing import Any, Literal
from urllib.parse import quote

from dexa.core.errors import ConflictError, PermissionDeniedError
from dexa.core.ports import KeyValueStore

from .queue import OutputQueue

Action = Literal["approve", "reject", "review"]
USED_NAMESPACE = "approval_links_used"


@dataclass(frozen=True, slots=True, kw_only=True)
class LinkClaims:
    org_id: str
    output_id: str
    action: Action
    expires_at: float
    nonce: str


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class ApprovalLinks:
    def __init__(
        self, secret: bytes, *, base_url: str, kv: KeyValueStore, clock: Callable[[], float] = time.time
    ) -> None:
        if len(secret) < 16:
            raise ValueError("approval link secret must be at least 16 bytes")
        self._secret = secret
        self.base_url = base_url.rstrip("/")
        self.kv = kv
        self.clock = clock

    def token(self, org_id: str, output_id: str, action: Action, *, ttl_s: float = 72 * 3600) -> str:
        claims = {"o": org_id, "i": output_id, "a": action, "e": int(self.clock() + ttl_s), "n": secrets.token_hex(8)}
        body = _b64(json.dumps(claims, separators=(",", ":"), sort_keys=True).encode())
        sig = _b64(hmac.new(self._secret, body.encode(), hashlib.sha256).digest())
        return f"{body}.{sig}"

    def url(self, org_id: str, output_id: str, action: Action, *, ttl_s: float = 72 * 3600) -> str:
        return f"{self.base_url}/outputs/review?token={quote(self.token(org_id, output_id, action, ttl_s=ttl_s))}"

    def peek(self, token: str) -> LinkClaims:
        """Verify signature and expiry without spending the link.

        Raises:
            PermissionDeniedError: tampered, malformed or expired.
        """
        try:
            body, sig = token.split(".", 1)
            expected = _b64(hmac.new(self._secret, body.encode(), hashlib.sha256).digest())
            if not hmac.compare_digest(sig, expected):
                raise PermissionDeniedError("approval link signature is invalid")
            raw: dict[str, Any] = json.loads(_unb64(body))
        except (ValueError, json.JSONDecodeError) as exc:
            raise PermissionDeniedError("approval link is malformed") from exc
        claims = LinkClaims(
            org_id=str(raw["o"]),
            output_id=str(raw["i"]),
            action=raw["a"],
            expires_at=float(raw["e"]),
            nonce=str(raw["n"]),
        )
        if self.clock() > claims.expires_at:
            raise PermissionDeniedError("approval link has expired; open the review queue instead")
        return claims

    async def redeem(self, token: str, queue: OutputQueue, *, by: str = "link", reason: str = "") -> dict[str, Any]:
        """Spend the link and perform its action (approve executes the pinned call once).

        Raises:
            PermissionDeniedError: invalid or expired link.
            ConflictError: the link was already used, or the output was already decided.
        """
        claims = self.peek(token)
        if claims.action == "review":
            raise PermissionDeniedError("a review link cannot approve or reject")
        if not await self.kv.kv_put_if_absent(USED_NAMESPACE, claims.nonce, {"at": self.clock()}, org_id=claims.org_id):
            raise ConflictError("this approval link was already used")
        if claims.action == "approve":
            return await queue.approve(claims.org_id, claims.output_id, by=by)
        return await queue.reject(claims.org_id, claims.output_id, by=by, reason=reason or "rejected via link")
