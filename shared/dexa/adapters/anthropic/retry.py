"""Retry policy and error translation for Anthropic SDK failures (we own retries; the SDK's are off).

Retryable: 408, 409, 429, 5xx, 529 / `overloaded_error` (also when it arrives as a mid-stream `error` event),
and connection failures. The server's `x-should-retry` header overrides that; `retry-after` /
`retry-after-ms` set the wait. Everything leaves this module as a `dexa.core.errors.ModelError`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from dexa.core.errors import ModelError, ModelRateLimitError, ModelRequestError, ModelUnavailableError

from . import sdk

sdk.load()  # before the import below: `anthropic` is then the lazy package, with only what a request needs
import anthropic  # noqa: E402

try:  # The SDK moved to its own httpx fork; a raw transport error can escape a stream being read.
    import httpx2 as _http  # pyright: ignore[reportMissingImports]
except ImportError:  # pragma: no cover - older SDKs
    import httpx as _http

TransportError: type[Exception] = _http.TransportError  # pyright: ignore[reportUnknownMemberType]

# A mid-stream `error` event rides on a 200 response; its error type tells what really happened.
_TYPE_STATUS: dict[str, int] = {
    "overloaded_error": 529,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
}
_STATUS_CATEGORY: dict[int, str] = {
    401: "authentication_failed",
    403: "authentication_failed",
    402: "billing_error",
    404: "model_not_found",
}
_RETRYABLE_STATUS = frozenset({408, 409, 429})
MAX_RETRY_AFTER_S = 120.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Failure:
    """What went wrong, in the shape of Claude Code's `system/api_retry` message."""

    status: int | None
    error_type: str
    message: str
    retryable: bool
    retry_after_s: float | None = None

    @property
    def category(self) -> str:
        """Claude Code's error category names (SDKAssistantMessageError)."""
        if self.status is None:
            return "unknown"
        if self.status == 529 or self.error_type == "overloaded_error":
            return "overloaded"
        if self.status == 429:
            return "rate_limit"
        return _STATUS_CATEGORY.get(self.status, "server_error" if self.status >= 500 else "invalid_request")


def classify(exc: BaseException) -> Failure | None:
    """A Failure for SDK/transport errors; None for anything else (a bug that should propagate)."""
    if isinstance(exc, anthropic.APIStatusError):
        return _status_failure(exc)
    if isinstance(exc, anthropic.APIConnectionError | TransportError):
        return Failure(
            status=None, error_type="connection_error", message=str(exc) or type(exc).__name__, retryable=True
        )
    return None


def translate(failure: Failure, *, endpoint: str = "Anthropic API") -> ModelError:
    """The Dexa error for a failure that will not (or may no longer) be retried."""
    if failure.status is None:
        return ModelUnavailableError(f"cannot reach the {endpoint}: {failure.message}", code="model_unavailable")
    text = f"{endpoint} error {failure.status} {failure.error_type}: {failure.message}"
    if failure.status == 429 or failure.error_type == "rate_limit_error":
        return ModelRateLimitError(text, status=failure.status)
    if failure.status >= 500 or failure.error_type == "overloaded_error":
        return ModelUnavailableError(text, status=failure.status)
    return ModelRequestError(text, status=failure.status)


def backoff_s(attempt: int, *, base_delay: float, max_delay: float, rng: random.Random | None = None) -> float:
    """Exponential backoff with up to 25% jitter; `attempt` counts from 1."""
    delay = min(max_delay, base_delay * (2 ** (attempt - 1)))
    return delay * (1 + 0.25 * (rng or random).random())


def _status_failure(exc: anthropic.APIStatusError) -> Failure:
    body: Any = exc.body
    error: Any = body.get("error") if isinstance(body, dict) else None  # pyright: ignore[reportUnknownMemberType]
    error_type = str(error.get("type") or "") if isinstance(error, dict) else ""  # pyright: ignore[reportUnknownMemberType]
    api_message = str(error.get("message") or "") if isinstance(error, dict) else ""  # pyright: ignore[reportUnknownMemberType]
    status = exc.status_code
    if status < 400:
        status = _TYPE_STATUS.get(error_type, 500)
    if not error_type:
        error_type = "overloaded_error" if status == 529 else f"http_{status}"
    retryable = status in _RETRYABLE_STATUS or status >= 500 or error_type == "overloaded_error"
    headers = exc.response.headers
    should_retry = headers.get("x-should-retry")
    if should_retry == "true":
        retryable = True
    elif should_retry == "false":
        retryable = False
    return Failure(
        status=status,
        error_type=error_type,
        message=api_message or _body_text(body) or exc.message,
        retryable=retryable,
        retry_after_s=_retry_after(headers.get("retry-after-ms"), headers.get("retry-after")),
    )


def _retry_after(ms: str | None, seconds: str | None) -> float | None:
    for raw, scale in ((ms, 0.001), (seconds, 1.0)):
        if raw is None:
            continue
        try:
            value = float(raw) * scale
        except ValueError:
            continue  # an HTTP-date: rare from Anthropic; fall back to our own backoff
        if value >= 0:
            return min(value, MAX_RETRY_AFTER_S)
    return None


def _body_text(body: Any) -> str:
    if isinstance(body, str):
        return body[:500]
    return ""
