"""Short-lived session credentials for the git proxy: HMAC-signed, scoped to one session, minutes long.

`dxg1.<payload>.<signature>`, where payload is base64url JSON `{"sid", "org", "exp", "n"}` and signature is
HMAC-SHA256 over the payload with a control-plane secret. Verification needs no store lookup; the proxy still
checks the session's repo list on every request, so removing a repo or ending the session takes effect at once.
Several secrets may be given: the first signs, all verify (key rotation).

Here in dexa.code, which mints them for a session's git remote; the proxy (dexa.gitproxy) imports them to verify.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from dexa.core.errors import ConfigError, PermissionDeniedError

PREFIX = "dxg1"
DEFAULT_TTL_S = 600.0
MAX_TTL_S = 3600.0


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionClaims:
    session_id: str
    org_id: str
    expires_at: float


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SessionTokens:
    def __init__(
        self, secrets_: Sequence[bytes | str], *, ttl_s: float = DEFAULT_TTL_S, clock: Callable[[], float] = time.time
    ) -> None:
        keys = [s.encode() if isinstance(s, str) else s for s in secrets_ if s]
        if not keys or any(len(k) < 16 for k in keys):
            raise ConfigError("git proxy signing secret must be at least 16 bytes (set DEXA_GIT_PROXY_SECRET)")
        if not 0 < ttl_s <= MAX_TTL_S:
            raise ConfigError(f"git proxy token ttl must be between 0 and {MAX_TTL_S:.0f} seconds, got {ttl_s}")
        self._keys = keys
        self.ttl_s = ttl_s
        self.clock = clock

    def _sign(self, key: bytes, payload: str) -> str:
        return _b64(hmac.new(key, payload.encode("ascii"), hashlib.sha256).digest())

    def mint(self, *, session_id: str, org_id: str, ttl_s: float | None = None) -> str:
        ttl = min(ttl_s or self.ttl_s, MAX_TTL_S)
        claims = {"sid": session_id, "org": org_id, "exp": int(self.clock() + ttl), "n": secrets.token_hex(6)}
        payload = _b64(json.dumps(claims, separators=(",", ":")).encode())
        return f"{PREFIX}.{payload}.{self._sign(self._keys[0], payload)}"

    def verify(self, token: str) -> SessionClaims:
        """Raises PermissionDeniedError for a malformed, forged or expired token."""
        prefix, _, rest = token.partition(".")
        payload, _, signature = rest.partition(".")
        if prefix != PREFIX or not payload or not signature:
            raise PermissionDeniedError("not a Dexa git session token", code="bad_token")
        if not any(hmac.compare_digest(self._sign(key, payload), signature) for key in self._keys):
            raise PermissionDeniedError("git session token signature does not verify", code="bad_token")
        try:
            claims = json.loads(_unb64(payload))
            parsed = SessionClaims(
                session_id=str(claims["sid"]), org_id=str(claims["org"]), expires_at=float(claims["exp"])
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise PermissionDeniedError("git session token payload is malformed", code="bad_token") from exc
        if parsed.expires_at <= self.clock():
            raise PermissionDeniedError("git session token has expired", code="token_expired")
        return parsed
