"""The API Lambda behind API Gateway: what API Gateway needs from it beyond the FastAPI app.

- **Request authorizer.** The REST API takes its API keys from an authorizer (`apiKeySource: AUTHORIZER`), so no
  client sends `x-api-key`: browsers can't, and programs shouldn't need a second secret. The authorizer reads the
  caller's Dexa credential (`Authorization: Bearer dexa_...`, or the web UI's HttpOnly `dexa_token` cookie),
  checks it, and answers with the caller's org's gateway key as `usageIdentifierKey`; API Gateway then applies that
  org's usage plan (throttle + daily quota). It runs in the API function itself (same code, table access and warm
  containers; no extra function to deploy), without building the runtime. The API still authenticates every
  request itself: the authorizer only chooses whose quota a request counts against, so a short in-container cache
  of its answers cannot keep a revoked key working.
- **Text bodies.** Mangum base64-encodes every body whose type is not in its text list, and its default list lacks
  `application/problem+json`: errors would reach clients as base64. TEXT_MIME_TYPES fixes that.
- **Long-poll SSE.** A buffered answer that holds until something new arrives (up to LONG_POLL_S) instead of one
  request per second per watching client.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import time
from collections.abc import Callable
from http.cookies import CookieError, SimpleCookie
from typing import Any, Final

logger = logging.getLogger(__name__)

# Everything the app answers with that is text. "text/" covers text/event-stream and text/html.
TEXT_MIME_TYPES: Final = (
    "text/",
    "application/json",
    "application/problem+json",
    "application/javascript",
    "application/xml",
    "application/vnd.oai.openapi",
    "image/svg+xml",
    "application/x-git-upload-pack-advertisement",  # the git proxy's ref advertisements are pkt-line text
    "application/x-git-receive-pack-advertisement",
)

COOKIE_NAME: Final = "dexa_token"  # = dexa.api.deps.COOKIE_NAME (not imported: the authorizer must stay light)
ENV_LONG_POLL_S: Final = "DEXA_SSE_LONG_POLL_S"
# Under API Gateway's 29 s integration timeout and the function's, with room for the answer.
LONG_POLL_S: Final = 20.0
CACHE_TTL_S: Final = 60.0
CACHE_MAX: Final = 2048

LambdaHandler = Callable[[dict[str, Any], Any], Any]


class Unauthorized(Exception):
    """API Gateway turns an authorizer failing with exactly the message "Unauthorized" into a 401."""

    def __init__(self) -> None:
        super().__init__("Unauthorized")


def buffered_stream() -> Any:
    """SSE settings for a buffered host: hold a poll open while nothing is new, re-reading the log 4x a second."""
    from dexa.core.streaming import StreamConfig

    raw = os.environ.get(ENV_LONG_POLL_S)
    try:
        wait = LONG_POLL_S if raw is None else float(raw)
    except ValueError as exc:
        from dexa.core.errors import ConfigError

        raise ConfigError(f"{ENV_LONG_POLL_S} must be a number of seconds, not {raw!r}") from exc
    return StreamConfig(buffered=True, long_poll_s=max(0.0, min(wait, 25.0)), poll_s=0.25, retry_ms=100)


def is_authorizer_event(event: Any) -> bool:
    return isinstance(event, dict) and event.get("type") in ("REQUEST", "TOKEN") and "methodArn" in event


def credential(event: dict[str, Any]) -> str | None:
    """The Dexa key a request carries: the bearer token, else the web UI's cookie."""
    headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items() if v is not None}
    auth = headers.get("authorization") or str(event.get("authorizationToken") or "")
    scheme, _, value = auth.strip().partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    raw = headers.get("cookie")
    if raw:
        try:
            jar = SimpleCookie(raw)
        except CookieError:
            return None
        morsel = jar.get(COOKIE_NAME)
        if morsel is not None and morsel.value:
            return morsel.value
    return None


def _stage_arn(method_arn: str) -> str:
    """arn:...:api-id/stage/VERB/path -> arn:...:api-id/stage/*/* (one answer covers the caller's whole API)."""
    head, _, rest = method_arn.partition(":execute-api:")
    parts = rest.split("/")
    return f"{head}:execute-api:{'/'.join(parts[:2])}/*/*" if len(parts) >= 2 else method_arn


class OrgAuthorizer:
    """Maps a Dexa credential to the org's gateway key. `store` is any KeyValueStore (DynamoStore in Lambda)."""

    def __init__(self, store: Any, *, clock: Callable[[], float] = time.monotonic) -> None:
        from dexa.auth.service import AuthService

        self.auth = AuthService(store)
        self._clock = clock
        self._cache: dict[str, tuple[float, dict[str, Any]]] = {}

    async def decide(self, event: dict[str, Any]) -> dict[str, Any]:
        from dexa.auth.gateway import load_gateway_key
        from dexa.core.errors import PermissionDeniedError

        token = credential(event)
        if not token:
            raise Unauthorized()
        digest = hashlib.sha256(token.encode()).hexdigest()
        hit = self._cache.get(digest)
        if hit is not None and hit[0] > self._clock():
            return {**hit[1], "policyDocument": _policy("Allow", event)}
        try:
            who = await self.auth.authenticate(token)
        except PermissionDeniedError:
            raise Unauthorized() from None
        gateway = await load_gateway_key(self.auth.store, who.org_id)
        answer: dict[str, Any] = {
            "principalId": who.user_id,
            "context": {"org_id": who.org_id, "user_id": who.user_id, "key_id": who.key_id},
        }
        if gateway is None:
            # API Gateway then refuses the request (403): an org made without a gateway key has no quota.
            logger.warning("org %s has no gateway key; run `dexa cloud add-org` or re-bootstrap", who.org_id)
        else:
            answer["usageIdentifierKey"] = gateway.value
        if len(self._cache) >= CACHE_MAX:
            self._cache.clear()
        self._cache[digest] = (self._clock() + CACHE_TTL_S, answer)
        return {**answer, "policyDocument": _policy("Allow", event)}


def _policy(effect: str, event: dict[str, Any]) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Action": "execute-api:Invoke", "Effect": effect, "Resource": _stage_arn(str(event["methodArn"]))}
        ],
    }


def with_authorizer(api: LambdaHandler, *, make_store: Callable[[], Any] | None = None) -> LambdaHandler:
    """The API function's handler: authorizer events answered here, everything else passed to the app."""
    state: dict[str, OrgAuthorizer] = {}

    def handle(event: dict[str, Any], context: Any) -> Any:
        if not is_authorizer_event(event):
            return api(event, context)
        authorizer = state.get("authorizer")
        if authorizer is None:
            if make_store is not None:
                store = make_store()
            else:
                from .dynamo_store import DynamoStore

                store = DynamoStore.from_env(os.environ)
            authorizer = state["authorizer"] = OrgAuthorizer(store)
        return _run(authorizer.decide(event))

    return handle


def _run(coro: Any) -> Any:
    # Mangum leaves a current loop on this thread; reuse it so warm invocations share the store's clients.
    try:
        loop = asyncio.get_event_loop_policy().get_event_loop()
    except RuntimeError:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
    return loop.run_until_complete(coro)
