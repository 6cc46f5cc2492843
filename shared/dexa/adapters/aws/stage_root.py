"""The API Gateway stage as the ASGI root_path, so the app can keep a browser inside the stage.

A REST API's proxy event has `path` without the stage (`/ui/review`) and `requestContext.path` with it
(`/v1/ui/review`, or a custom domain's base path, or nothing when the domain maps the API at its root). The
difference is where the app is mounted. Mangum leaves root_path empty; routing still uses `path`, so only the URLs
the app hands out (dexa.api.mount) change. Set once per request from the event, never from a client header.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def stage_root(event: Any) -> str:
    """ "/v1" for `requestContext.path` "/v1/ui/review" with `path` "/ui/review"; "" when they agree or are missing."""
    if not isinstance(event, dict):
        return ""
    context = event.get("requestContext")  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]
    full = context.get("path") if isinstance(context, dict) else None  # pyright: ignore[reportUnknownMemberType]
    path = event.get("path")  # pyright: ignore[reportUnknownMemberType]
    if not isinstance(full, str) or not isinstance(path, str):
        return ""  # an HTTP API (v2) event, or a test's hand-made one: no stage in the URL to keep
    if path in ("", "/"):
        return full.rstrip("/") if full != path else ""
    return full[: -len(path)].rstrip("/") if full.endswith(path) else ""


class StageRoot:
    """ASGI middleware around the app Mangum runs: root_path from the event Mangum put in the scope."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") in ("http", "websocket"):
            root = stage_root(scope.get("aws.event"))
            if root:
                scope = {**scope, "root_path": root}
        await self.app(scope, receive, send)
