"""Share links: a signed, expiring, revocable token that opens one session read-only, with no API key.

The token carries the org, session, share id and expiry, signed with HMAC-SHA256 under a key kept in the Store
(created once, shared by every API container). Opening a link checks the signature, the expiry and the share's
record, so revoking the record kills the link at once. Every failure answers the same NotFoundError: a link that
never existed, expired, was revoked or was tampered with looks alike, and reveals nothing about the session.
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
from typing import Any

from dexa.core.errors import NotFoundError
from dexa.core.ports import KeyValueStore

SHARES = "session_shares"
KEYS = "api_signing_keys"
KEY_NAME = "share_links"
DEFAULT_TTL_S = 7 * 86_400
MAX_TTL_S = 30 * 86_400


@dataclass(frozen=True, slots=True, kw_only=True)
class Share:
    id: str
    org_id: str
    session_id: str
    created_by: str
    created_at: float
    expires_at: float
    revoked_at: float | None = None

    def to_doc(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "org_id": self.org_id,
            "session_id": self.session_id,
            "created_by": self.created_by,
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "revoked_at": self.revoked_at,
        }

    @staticmethod
    def of(doc: dict[str, Any]) -> Share:
        return Share(
            id=str(doc["id"]),
            org_id=str(doc["org_id"]),
            session_id=str(doc["session_id"]),
            created_by=str(doc.get("created_by") or ""),
            created_at=float(doc.get("created_at") or 0),
            expires_at=float(doc.get("expires_at") or 0),
            revoked_at=None if doc.get("revoked_at") is None else float(doc["revoked_at"]),
        )


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


async def signing_key(kv: KeyValueStore, name: str) -> bytes:
    """The Store's key `name`, made on first use; a race between containers keeps the first one written."""
    doc = await kv.kv_get(KEYS, name)
    if doc is None:
        await kv.kv_put_if_absent(KEYS, name, {"key": secrets.token_hex(32), "created_at": time.time()})
        doc = await kv.kv_get(KEYS, name)
    if doc is None or not isinstance(doc.get("key"), str):
        raise NotFoundError("signing key unavailable")
    return bytes.fromhex(doc["key"])


def _sign(key: bytes, body: str) -> str:
    return _b64(hmac.new(key, body.encode(), hashlib.sha256).digest())


class ShareLinks:
    def __init__(self, kv: KeyValueStore, *, clock: Callable[[], float] = time.time) -> None:
        self.kv = kv
        self.clock = clock

    async def create(self, org_id: str, session_id: str, *, by: str, ttl_s: float) -> tuple[Share, str]:
        now = self.clock()
        share = Share(
            id="shr_" + secrets.token_hex(8),
            org_id=org_id,
            session_id=session_id,
            created_by=by,
            created_at=now,
            expires_at=now + min(ttl_s, MAX_TTL_S),
        )
        await self.kv.kv_put(SHARES, share.id, share.to_doc(), org_id=org_id)
        return share, await self.token(share)

    async def token(self, share: Share) -> str:
        claims = {"o": share.org_id, "s": share.session_id, "i": share.id, "e": int(share.expires_at)}
        body = _b64(json.dumps(claims, separators=(",", ":"), sort_keys=True).encode())
        return f"{body}.{_sign(await signing_key(self.kv, KEY_NAME), body)}"

    async def list(self, org_id: str, session_id: str) -> list[Share]:
        docs = await self.kv.kv_list(SHARES, org_id=org_id)
        shares = [Share.of(d) for d in docs if d.get("session_id") == session_id]
        return sorted(shares, key=lambda s: s.created_at, reverse=True)

    async def get(self, org_id: str, session_id: str, share_id: str) -> Share:
        doc = await self.kv.kv_get(SHARES, share_id, org_id=org_id)
        if doc is None or doc.get("session_id") != session_id:
            raise NotFoundError(f"no share {share_id[:80]} on session {session_id[:80]}")
        return Share.of(doc)

    async def revoke(self, org_id: str, session_id: str, share_id: str) -> Share:
        share = await self.get(org_id, session_id, share_id)
        if share.revoked_at is None:
            doc = share.to_doc() | {"revoked_at": self.clock()}
            await self.kv.kv_put(SHARES, share.id, doc, org_id=org_id)
            share = Share.of(doc)
        return share

    async def open(self, token: str) -> Share:
        """The live share the token names. Raises NotFoundError, alike for every reason it is not one."""
        gone = NotFoundError("this share link does not exist, has expired or was revoked")
        try:
            body, sig = token.split(".", 1)
            if not hmac.compare_digest(sig, _sign(await signing_key(self.kv, KEY_NAME), body)):
                raise gone
            raw = json.loads(_unb64(body))
            org_id, session_id, share_id = str(raw["o"]), str(raw["s"]), str(raw["i"])
        except (ValueError, KeyError, TypeError, json.JSONDecodeError) as exc:
            raise gone from exc
        doc = await self.kv.kv_get(SHARES, share_id, org_id=org_id)
        if doc is None:
            raise gone
        share = Share.of(doc)
        if share.session_id != session_id or share.revoked_at is not None or self.clock() > share.expires_at:
            raise gone
        return share
