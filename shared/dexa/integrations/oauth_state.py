"""The OAuth `state`: what authenticates the provider's redirect back to Dexa.

The callback cannot rely on the browser's session cookie: it is SameSite=Strict, and a redirect from the provider's
site is a cross-site navigation, so the browser does not send it (and API Gateway's authorizer would refuse the
request before the app saw it). So the state carries the authority instead:

- random (256 bits) and signed: `<nonce>.<HMAC(key, nonce|org|user|integration|owner)>`, the key a per-deployment
  secret in the store, so a state names exactly the sign-in it was minted for, and a forged or re-bound one fails
  before any lookup counts;
- stored with the pending sign-in (org, user, integration, grant owner, PKCE verifier, expiry) in the store (the
  DynamoDB table on AWS), and spent once by a conditional write;
- useless to anyone but the user who started it: the grant is stored for the org and owner recorded at the start,
  and the code it is paired with must match that sign-in's PKCE verifier, so a state cannot be completed with
  another account's code, nor store a grant for someone else.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Mapping
from typing import Any, Final

from dexa.core.errors import NotFoundError
from dexa.core.ports import KeyValueStore

KEYS_NAMESPACE: Final = "oauth_keys"
KEY_NAME: Final = "state"


async def _key(kv: KeyValueStore) -> bytes:
    """The deployment's state-signing key, made on first use; racing containers keep the first one written."""
    doc = await kv.kv_get(KEYS_NAMESPACE, KEY_NAME)
    if doc is None:
        await kv.kv_put_if_absent(KEYS_NAMESPACE, KEY_NAME, {"key": secrets.token_hex(32), "created_at": time.time()})
        doc = await kv.kv_get(KEYS_NAMESPACE, KEY_NAME)
    if doc is None or not isinstance(doc.get("key"), str):
        raise NotFoundError("the OAuth state key is unavailable")
    return bytes.fromhex(doc["key"])


def _mac(key: bytes, nonce: str, org_id: str, user_id: str, integration_id: str, owner: str) -> str:
    body = "|".join((nonce, org_id, user_id, integration_id, owner)).encode()
    return base64.urlsafe_b64encode(hmac.new(key, body, hashlib.sha256).digest()[:24]).rstrip(b"=").decode()


async def new_state(kv: KeyValueStore, *, org_id: str, user_id: str, integration_id: str, owner: str) -> str:
    """A state bound to this sign-in; store the pending record under it."""
    nonce = secrets.token_urlsafe(32)
    return f"{nonce}.{_mac(await _key(kv), nonce, org_id, user_id, integration_id, owner)}"


async def bound(kv: KeyValueStore, state: str, pending: Mapping[str, Any]) -> bool:
    """Whether `state` was minted for the sign-in `pending` records (org, user, integration and owner)."""
    nonce, _, mac = state.partition(".")
    if not nonce or not mac:
        return False
    expected = _mac(
        await _key(kv),
        nonce,
        str(pending.get("org_id") or ""),
        str(pending.get("user_id") or ""),
        str(pending.get("integration_id") or ""),
        str(pending.get("owner") or "org"),
    )
    return hmac.compare_digest(mac, expected)
