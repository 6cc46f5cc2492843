from __future__ import annotations

import random

import anthropic
import httpx2
import pytest

from dexa.adapters.anthropic.retry import backoff_s, classify, translate
from dexa.core.errors import ModelRateLimitError, ModelRequestError, ModelUnavailableError


def status_error(status: int, body: object, headers: dict[str, str] | None = None) -> anthropic.APIStatusError:
    request = httpx2.Request("POST", "http://fake/v1/messages")
    response = httpx2.Response(status, request=request, json=body, headers=headers or {})
    from anthropic._error_classes import make_status_error

    return make_status_error(f"Error code: {status}", body=body, response=response)


def body(error_type: str, message: str = "m") -> dict[str, object]:
    return {"type": "error", "error": {"type": error_type, "message": message}}


@pytest.mark.parametrize(
    ("status", "error_type", "retryable", "dexa_error"),
    [
        (529, "overloaded_error", True, ModelUnavailableError),
        (500, "api_error", True, ModelUnavailableError),
        (429, "rate_limit_error", True, ModelRateLimitError),
        (400, "invalid_request_error", False, ModelRequestError),
        (401, "authentication_error", False, ModelRequestError),
    ],
)
def test_status_errors_classify_and_translate(status: int, error_type: str, retryable: bool, dexa_error: type) -> None:
    failure = classify(status_error(status, body(error_type, "why")))
    assert failure is not None
    assert failure.retryable is retryable
    error = translate(failure)
    assert isinstance(error, dexa_error)
    assert error.status == status and str(status) in str(error) and "why" in str(error)


def test_mid_stream_error_event_on_a_200_is_classified_by_its_type() -> None:
    failure = classify(status_error(200, body("overloaded_error")))
    assert failure is not None and failure.status == 529 and failure.retryable


def test_retry_after_headers_and_x_should_retry_are_honoured() -> None:
    failure = classify(status_error(429, body("rate_limit_error"), {"retry-after": "7"}))
    assert failure is not None and failure.retry_after_s == 7.0
    failure = classify(
        status_error(529, body("overloaded_error"), {"retry-after-ms": "250", "x-should-retry": "false"})
    )
    assert failure is not None and failure.retry_after_s == 0.25 and not failure.retryable


def test_backoff_doubles_with_bounded_jitter_and_a_cap() -> None:
    rng = random.Random(1)
    delays = [backoff_s(n, base_delay=0.5, max_delay=4.0, rng=rng) for n in range(1, 7)]
    for n, delay in enumerate(delays, start=1):
        nominal = min(4.0, 0.5 * 2 ** (n - 1))
        assert nominal <= delay <= nominal * 1.25


def test_non_sdk_errors_are_not_classified() -> None:
    assert classify(ValueError("bug")) is None
