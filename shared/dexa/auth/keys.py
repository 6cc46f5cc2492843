"""API key tokens: `dexa_<prefix>_<secret>`, stored as a sha256 digest and found by prefix.

sha256 rather than scrypt: the secret is 256 random bits, so a slow hash adds nothing against brute force and
would cost every request milliseconds. Slow hashes protect low-entropy passwords, which keys are not.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from typing import Final

TOKEN_PREFIX: Final = "dexa_"
_TOKEN_RE: Final = re.compile(r"^dexa_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$")


def new_token() -> tuple[str, str]:
    """A fresh (token, prefix). The token is shown once; only its digest is stored."""
    prefix = secrets.token_hex(8)
    return f"{TOKEN_PREFIX}{prefix}_{secrets.token_urlsafe(32)}", prefix


def parse_prefix(token: str) -> str | None:
    """The lookup prefix of a well-formed token, or None (so malformed tokens never reach the store)."""
    match = _TOKEN_RE.match(token.strip())
    return match.group(1) if match else None


def digest(token: str) -> str:
    return hashlib.sha256(token.strip().encode()).hexdigest()


def matches(token: str, stored_digest: str) -> bool:
    return hmac.compare_digest(digest(token), stored_digest)
