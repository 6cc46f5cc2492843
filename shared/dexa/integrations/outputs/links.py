"""Signed, expiring, single-use approval links for Slack and email reviewers.

A link carries `org`, the thing decided (a staged output, or a tool approval with its session), `action`, expiry and
a nonce, signed with HMAC-SHA256. Opening it (`peek`) shows the review page without spending it; `redeem` spends it
once (a kv claim on the nonce) and performs the action.

Several keys may verify (the first one signs): after a key rotation the previous key keeps verifying links already
sent until it is dropped, so a rotation does not break the emails in reviewers' inboxes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote

from dexa.core.errors import ConflictError, PermissionDeniedError
from dexa.core.ports import KeyValueStore

if TYPE_CHECKING:  # the queue pulls in the MCP SDK; links are minted by functions that never touch it
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
    kind: Literal["output", "tool"] = "output"
    session_id: str = ""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


ToolDecide = Callable[[LinkClaims, str], Awaitable[dict[str, Any]]]


def _sign(key: bytes, body: str) -> str:
    return _b64(hmac.new(key, body.encode(), hashlib.sha256).digest())


class ApprovalLinks:
    def __init__(
        self,
        secret: bytes | Sequence[bytes],
        *,
        base_url: str,
        kv: KeyValueStore,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`secret`: one key, or keys newest first (the first signs, every one verifies)."""
        keys = [secret] if isinstance(secret, bytes) else [k for k in secret if k]
        if not keys or any(len(k) < 16 for k in keys):
            raise ValueError("approval link secrets must be at least 16 bytes")
        self._keys = keys
        self.base_url = base_url.rstrip("/")
        self.kv = kv
        self.clock = clock

    def _token(self, claims: dict[str, Any]) -> str:
        body = _b64(json.dumps(claims, separators=(",", ":"), sort_keys=True).encode())
        return f"{body}.{_sign(self._keys[0], body)}"

    def token(self, org_id: str, output_id: str, action: Action, *, ttl_s: float = 72 * 3600) -> str:
        claims = {"o": org_id, "i": output_id, "a": action, "e": int(self.clock() + ttl_s), "n": secrets.token_hex(8)}
        return self._token(claims)

    def tool_token(
        self, org_id: str, session_id: str, approval_id: str, action: Action, *, ttl_s: float = 86_400
    ) -> str:
        """A link deciding a waiting tool call (approve = allow once, reject = deny)."""
        claims = {
            "o": org_id,
            "i": approval_id,
            "s": session_id,
            "k": "tool",
            "a": action,
            "e": int(self.clock() + ttl_s),
            "n": secrets.token_hex(8),
        }
        return self._token(claims)

    def url(self, org_id: str, output_id: str, action: Action, *, ttl_s: float = 72 * 3600) -> str:
        return f"{self.base_url}/outputs/review?token={quote(self.token(org_id, output_id, action, ttl_s=ttl_s))}"

    def tool_url(self, org_id: str, session_id: str, approval_id: str, action: Action, *, ttl_s: float = 86_400) -> str:
        token = self.tool_token(org_id, session_id, approval_id, action, ttl_s=ttl_s)
        return f"{self.base_url}/outputs/review?token={quote(token)}"

    def peek(self, token: str) -> LinkClaims:
        """Verify signature and expiry without spending the link.

        Raises:
            PermissionDeniedError: tampered, malformed or expired.
        """
        try:
            body, sig = token.split(".", 1)
            if not any(hmac.compare_digest(sig, _sign(key, body)) for key in self._keys):
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
            kind="tool" if raw.get("k") == "tool" else "output",
            session_id=str(raw.get("s") or ""),
        )
        if self.clock() > claims.expires_at:
            raise PermissionDeniedError("approval link has expired; open the review queue instead")
        return claims

    async def redeem(
        self,
        token: str,
        queue: OutputQueue,
        *,
        by: str = "link",
        reason: str = "",
        decide_tool: ToolDecide | None = None,
    ) -> dict[str, Any]:
        """Spend the link and perform its action (approve executes the pinned call once). A tool-approval link is
        decided by `decide_tool(claims, by)`.

        Raises:
            PermissionDeniedError: invalid or expired link, or a tool link with no `decide_tool`.
            ConflictError: the link was already used, or the output was already decided.
        """
        claims = self.peek(token)
        if claims.action == "review":
            raise PermissionDeniedError("a review link cannot approve or reject")
        if claims.kind == "tool" and decide_tool is None:
            raise PermissionDeniedError("this server cannot decide tool approvals from a link")
        if not await self.kv.kv_put_if_absent(USED_NAMESPACE, claims.nonce, {"at": self.clock()}, org_id=claims.org_id):
            raise ConflictError("this approval link was already used")
        if claims.kind == "tool" and decide_tool is not None:
            return await decide_tool(claims, by)
        if claims.action == "approve":
            return await queue.approve(claims.org_id, claims.output_id, by=by)
        return await queue.reject(claims.org_id, claims.output_id, by=by, reason=reason or "rejected via link")
