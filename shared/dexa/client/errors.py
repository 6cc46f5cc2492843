"""Problem+json answers as the core errors they stand for (shared by DexaClient and its operation mixins)."""

from __future__ import annotations

import httpx

from dexa.core.errors import ConfigError, ConflictError, DexaError, NotFoundError, PermissionDeniedError


def error_from(response: httpx.Response) -> DexaError:
    """The core error a problem+json response stands for (its `code` kept)."""
    try:
        body = response.json()
    except ValueError:
        body = {}
    body = body if isinstance(body, dict) else {}
    code = str(body.get("code") or f"http_{response.status_code}")
    detail = str(body.get("detail") or response.reason_phrase)
    status = response.status_code
    if status == 404:
        return NotFoundError(detail, code=code)
    if status == 409:
        return ConflictError(detail, code=code)
    if status in (401, 403):
        return PermissionDeniedError(detail, code=code)
    if status in (400, 422):
        return ConfigError(detail, code=code)
    return DexaError(f"{status} {detail}", code=code)
