"""The GitHub App webhook route: `POST {path}`, signed with the App's webhook secret.

Answers: 401 for a missing or wrong `X-Hub-Signature-256`, 400 for a delivery without an id or with a body that
is not JSON, 200 `{"status": "pong"}` for `ping`, 200 `{"status": "duplicate"}` for a delivery id already
processed, 202 `{"status": "started", "session_id": ...}` or 200 `{"status": "ignored", "reason": ...}` otherwise.
"""

from __future__ import annotations

import json
import logging

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from dexa.adapters.github.webhooks import DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER, verify_signature
from dexa.core.errors import ConfigError

from .github import GitHubTriggers

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 25 * 1024 * 1024  # GitHub caps payloads at 25 MB


def create_webhook_router(
    *, secret: str | bytes, triggers: GitHubTriggers, path: str = "/webhooks/github"
) -> APIRouter:
    """The webhook route, to mount on the Dexa API app (`extra_routers`).

    Raises:
        ConfigError: the secret is empty (an unsigned webhook would let anyone start sessions).
    """
    if not secret:
        raise ConfigError("GitHub webhook secret is empty; set the App's webhook secret (DEXA_GITHUB_WEBHOOK_SECRET)")
    router = APIRouter(tags=["webhooks"])

    @router.post(path, status_code=202, summary="GitHub App webhook", include_in_schema=False)
    async def github_webhook(request: Request) -> JSONResponse:
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            return JSONResponse({"status": "rejected", "reason": "payload too large"}, status_code=413)
        if not verify_signature(secret, body, request.headers.get(SIGNATURE_HEADER)):
            logger.warning("github webhook with a bad or missing signature rejected")
            return JSONResponse({"status": "rejected", "reason": "invalid signature"}, status_code=401)
        event = request.headers.get(EVENT_HEADER, "")
        delivery = request.headers.get(DELIVERY_HEADER, "")
        if not delivery or not event:
            return JSONResponse(
                {"status": "rejected", "reason": f"missing {DELIVERY_HEADER} or {EVENT_HEADER}"}, status_code=400
            )
        if event == "ping":
            return JSONResponse({"status": "pong"}, status_code=200)
        try:
            payload = json.loads(body)
        except ValueError:
            return JSONResponse({"status": "rejected", "reason": "body is not JSON"}, status_code=400)
        if not isinstance(payload, dict) or not isinstance(payload.get("repository"), dict):
            return JSONResponse({"status": "ignored", "reason": "no repository in the payload"}, status_code=200)
        result = await triggers.handle_delivery(event=event, delivery_id=delivery, payload=payload)
        content = {"status": result.status, "reason": result.reason, "session_id": result.session_id}
        return JSONResponse(content, status_code=202 if result.status == "started" else 200)

    return router
