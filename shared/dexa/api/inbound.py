"""Inbound routes: Slack (interactions and Events API) and templated task webhooks, on `dexa serve`'s app.

None takes an API key: each authenticates by the signature of its raw body (Slack's signing secret, the
template's secret) and acts only for users the org mapped.
    POST /webhooks/slack                 Approve/Reject clicks (dexa.integrations.slack_clicks, as in the cloud's
                                         webhooks Lambda; here a tool decision resumes the local driver)
    POST /webhooks/slack-events          mentions and DMs start sessions (dexa.triggers.slack_events); also at
                                         /webhooks/slack/events
    POST /webhooks/tasks/{template_id}   a saved task template filled from the JSON body (dexa.triggers.templates)
Engine work (deciding, starting sessions) runs on the engine's loop (`ctx.call`), like every API route's.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from dexa.api.deps import ApiContext
from dexa.core.session import Approval

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024
# Every path create_inbound_router serves: the app builds the router on the first request to one of them.
PATHS = ("/webhooks/slack", "/webhooks/slack-events", "/webhooks/slack/events", "/webhooks/tasks/{template_id}")


class _LocalRelease:
    """What SlackClicks calls once a click decided a tool approval: drive the parked turn on."""

    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime

    async def notify(self, approval: Approval) -> None:
        self.runtime.driver.start(approval.session_id)


def _ctx(request: Request) -> ApiContext:
    return request.app.state.dexa


class _Parts:
    """The receivers, built on the first inbound request: the API Lambda builds this app too, and its cold start
    must not pay for Slack or the trigger modules."""

    def __init__(self, runtime: Any, env: Mapping[str, str]) -> None:
        self.runtime, self.env = runtime, env
        self._built: dict[str, Any] | None = None

    def get(self) -> dict[str, Any]:
        if self._built is None:
            from dexa.adapters.aws.secrets import SecretReader
            from dexa.integrations.slack_clicks import SlackClicks
            from dexa.runtime.inbound import trigger_starter
            from dexa.runtime.webhooks import slack_api

            runtime, reader = self.runtime, SecretReader(self.env)

            def signing_secret() -> str:
                return reader.get("DEXA_SLACK_SIGNING_SECRET")

            def slack() -> Any:
                return slack_api(self.env, reader) if self.env.get("DEXA_SLACK_BOT_TOKEN") else None

            # One Slack client per loop: an httpx client's connections belong to the loop that opened them, and
            # clicks are answered on the engine's loop while events are acknowledged on the request's.
            clicks = SlackClicks(
                runtime.engine,
                _LocalRelease(runtime),
                signing_secret,
                slack=slack(),
                outputs=lambda: runtime.integrations.queue,
            )
            start = trigger_starter(runtime)
            self._built = {"secret": signing_secret, "slack": slack(), "clicks": clicks, "start": start}
        return self._built


def create_inbound_router(runtime: Any, env: Mapping[str, str]) -> APIRouter:
    parts = _Parts(runtime, env)
    router = APIRouter(tags=["webhooks"])

    async def body_of(request: Request) -> bytes | None:
        body = await request.body()
        return None if len(body) > MAX_BODY_BYTES else body

    @router.post("/webhooks/slack", include_in_schema=False)
    async def slack_interaction(request: Request) -> JSONResponse:
        body = await body_of(request)
        if body is None:
            return JSONResponse({"error": "payload too large"}, status_code=413)
        status, content = await _ctx(request).call(parts.get()["clicks"].handle, dict(request.headers), body)
        return JSONResponse(content, status_code=status)

    @router.post("/webhooks/slack-events", include_in_schema=False)  # the cloud's path (one segment)
    @router.post("/webhooks/slack/events", include_in_schema=False)
    async def slack_events(request: Request) -> JSONResponse:
        body = await body_of(request)
        if body is None:
            return JSONResponse({"error": "payload too large"}, status_code=413)
        from dexa.triggers.slack_events import SlackEvents

        ctx, got = _ctx(request), parts.get()

        async def start_on_engine(task: Any) -> str:
            return await ctx.call(got["start"], task)

        base = str(getattr(runtime, "base_url", "")).rstrip("/")
        events = SlackEvents(
            runtime.store,
            start_on_engine,
            secret=got["secret"],
            slack=got["slack"],
            session_url=lambda sid: f"{base}/ui/sessions/{sid}" if base else "",
        )
        status, content = await events.handle(dict(request.headers), body)
        return JSONResponse(content, status_code=status)

    @router.post("/webhooks/tasks/{template_id}", include_in_schema=False)
    async def task_webhook(template_id: str, request: Request) -> JSONResponse:
        body = await body_of(request)
        if body is None:
            return JSONResponse({"error": "payload too large"}, status_code=413)
        from dexa.triggers.templates import handle_delivery

        ctx = _ctx(request)

        async def start_on_engine(task: Any) -> str:
            return await ctx.call(parts.get()["start"], task)

        status, content = await handle_delivery(runtime.store, start_on_engine, template_id, request.headers, body)
        return JSONResponse(content, status_code=status)

    return router
