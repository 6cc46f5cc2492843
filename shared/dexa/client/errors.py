"""Problem+json answers as the core errors they stand for (shared by DexaClient, its operation mixins and the
standard-library client of an attached `dexa run -p`, dexa.cli.attached). No httpx at import: the attached client
has none."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from dexa.core.errors import ConfigError, ConflictError, DexaError, NotFoundError, PermissionDeniedError

if TYPE_CHECKING:
    import httpx


def problem_error(status: int, reason: str, raw: bytes) -> DexaError:
    """The core error an answer of `status` with body `raw` stands for (the problem's `code` kept)."""
    try:
        body = json.loads(raw)
    except ValueError:
        body = {}
    body = body if isinstance(body, dict) else {}
    code = str(body.get("code") or f"http_{status}")  # pyright: ignore[reportUnknownMemberType]
    detail = str(body.get("detail") or reason)  # pyright: ignore[reportUnknownMemberType]
    if status == 404:
        return NotFoundError(detail, code=code)
    if status == 409:
        return ConflictError(detail, code=code)
    if status in (401, 403):
        return PermissionDeniedError(detail, code=code)
    if status in (400, 422):
        return ConfigError(detail, code=code)
    return DexaError(f"{status} {detail}", code=code)


def error_from(response: httpx.Response) -> DexaError:
    """The core error a problem+json response stands for (its `code` kept)."""
    return problem_error(response.status_code, response.reason_phrase, response.content)
