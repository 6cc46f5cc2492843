"""RFC 9457 problem+json: one response shape, one exception handler, stable `code`s from dexa.core.errors.

Status comes from the error's `code` when the API gave it one (unauthenticated, forbidden, rate_limited,
already_decided, session_busy, not_implemented), else from its class in the one error tree.
"""

from __future__ import annotations

import logging
from typing import Any, Final

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from dexa.core.errors import (
    ConfigError,
    ConflictError,
    DexaError,
    ModelRateLimitError,
    NotFoundError,
    PermissionDeniedError,
    RunError,
    StorageError,
    ToolInputError,
)

logger = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE: Final = "application/problem+json"
PROBLEM_REF: Final = "#/components/schemas/Problem"

STATUS_BY_CODE: Final[dict[str, int]] = {
    "unauthenticated": 401,
    "forbidden": 403,
    "rate_limited": 429,
    "already_decided": 409,
    "session_busy": 409,
    "not_implemented": 501,
    "validation_error": 422,
}
# Most specific first.
STATUS_BY_CLASS: Final[tuple[tuple[type[DexaError], int], ...]] = (
    (NotFoundError, 404),
    (ConflictError, 409),
    (ConfigError, 400),
    (ToolInputError, 400),
    (PermissionDeniedError, 403),
    (ModelRateLimitError, 429),
    (RunError, 409),
    (StorageError, 503),
)
TITLES: Final[dict[int, str]] = {
    400: "Bad request",
    401: "Unauthenticated",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    422: "Invalid request",
    429: "Too many requests",
    500: "Internal error",
    501: "Not implemented",
    503: "Unavailable",
}


class Problem(BaseModel):
    """Every error response. `code` is stable and machine-readable; `detail` is for humans."""

    model_config = ConfigDict(extra="forbid")

    type: str = Field(default="about:blank", description="A URI naming the problem type")
    title: str
    status: int = Field(ge=400, le=599)
    code: str = Field(description="Stable error code, e.g. not_found, already_decided, rate_limited")
    detail: str = ""
    instance: str | None = None
    errors: list[dict[str, Any]] | None = Field(default=None, description="Field errors for validation problems")


def problem_content() -> dict[str, Any]:
    """An error response's OpenAPI `content`: Problem by reference (build_openapi adds its schema).

    Why not FastAPI's `{"model": Problem}`: a model there makes FastAPI build a pydantic serializer for every error
    status of every route, twice (when the route is declared and when it is first routed to). That was ~0.4 ms each,
    ~50 ms of a cold API Lambda's first request, for a field only the OpenAPI document reads.
    """
    return {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": PROBLEM_REF}}}


def status_for(exc: DexaError) -> int:
    if exc.code in STATUS_BY_CODE:
        return STATUS_BY_CODE[exc.code]
    for cls, status in STATUS_BY_CLASS:
        if isinstance(exc, cls):
            return status
    return 500


def problem_response(
    status: int,
    code: str,
    detail: str,
    *,
    instance: str | None = None,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = Problem(
        title=TITLES.get(status, "Error"),
        status=status,
        code=code,
        detail=detail,
        instance=instance,
        errors=errors,
        type=f"https://dexa.dev/problems/{code}",
    )
    return JSONResponse(
        body.model_dump(exclude_none=True), status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers
    )


def _validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for err in exc.errors():
        # Input echoes may hold non-JSON values (bytes, NaN); location and message are what a client needs.
        out.append(
            {
                "loc": [str(p) for p in err.get("loc", ())],
                "msg": str(err.get("msg", "")),
                "type": str(err.get("type", "")),
            }
        )
    return out


async def handle_exception(request: Request, exc: Exception) -> JSONResponse:
    """The one exception handler: DexaError, request validation, routing errors and crashes."""
    instance = request.url.path
    if isinstance(exc, DexaError):
        status = status_for(exc)
        headers: dict[str, str] = {}
        if status == 401:
            headers["WWW-Authenticate"] = 'Bearer realm="dexa"'
        retry_after = getattr(request.state, "retry_after", None)
        if status == 429 and retry_after is not None:
            headers["Retry-After"] = str(retry_after)
        if status >= 500:
            logger.error("request %s %s failed: %s", request.method, instance, exc)
        return problem_response(status, exc.code, exc.message or str(exc), instance=instance, headers=headers)
    if isinstance(exc, RequestValidationError):
        errors = _validation_errors(exc)
        detail = "; ".join(f"{'.'.join(e['loc'])}: {e['msg']}" for e in errors[:5])
        return problem_response(422, "validation_error", detail, instance=instance, errors=errors)
    if isinstance(exc, StarletteHTTPException):
        code = {400: "bad_request", 404: "not_found", 405: "method_not_allowed"}.get(
            exc.status_code, f"http_{exc.status_code}"
        )
        headers = dict(exc.headers or {})
        return problem_response(exc.status_code, code, str(exc.detail), instance=instance, headers=headers)
    logger.exception("unhandled error on %s %s", request.method, instance)
    return problem_response(500, "internal_error", "internal error", instance=instance)


def not_implemented(what: str) -> DexaError:
    return DexaError(f"{what} is not configured on this server", code="not_implemented")


def forbidden(message: str) -> PermissionDeniedError:
    return PermissionDeniedError(message, code="forbidden")
