"""The event-stream function's server: the API app under uvicorn with live SSE, for the Lambda Web Adapter.

`functions/api_stream/run.sh` runs `python -m dexa.cloud.stream`; the adapter (AWS_LWA_INVOKE_MODE=response_stream)
forwards each request to it and streams the body back as it is written. How the stream is paced (poll, heartbeat,
maximum length) and which port it listens on are dexa.adapters.aws.stream_server's.

Readiness is cheap on purpose: the adapter sends no request until `/health` answers, and a client's first
connection waits for it. So the server binds and answers `/health` at once (no FastAPI, no runtime), and builds the
app and its runtime (secrets, store, ~2 s of imports) on a thread begun as soon as the first check is answered; a
request that comes before the build is done waits for it.

Run locally the way the adapter runs it: `AWS_LWA_PORT=8080 python -m dexa.cloud.stream`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
from collections.abc import Callable
from typing import Any

from dexa.adapters.aws.stream_server import live_stream, port_from_env

logger = logging.getLogger(__name__)

HEALTH_PATH = "/health"


def create_stream_app() -> Any:
    """The full app over the cloud runtime (every route works; only the events route is sent here)."""
    from dexa.server_app import build_app
    from dexa.wiring import Runtime

    from .lambdas import cloud_runtime

    runtime = cloud_runtime()
    if not isinstance(runtime, Runtime):
        from dexa.api import create_app

        return create_app(runtime, stream=live_stream())
    return build_app(runtime, stream=live_stream())


class DeferredApp:
    """An ASGI app that answers the readiness check itself and hands everything else to the app `build` returns,
    built once on a thread of its own, begun once the first readiness check is answered (or by a first request)."""

    def __init__(self, build: Callable[[], Any]) -> None:
        self._build = build
        self._app: Any = None
        self._error: BaseException | None = None
        self._done = threading.Event()
        self._started = threading.Lock()
        self._began = False
        self._lifespan: contextlib.AsyncExitStack | None = None
        self._entering = asyncio.Lock()

    def start(self) -> None:
        with self._started:
            if self._began:
                return
            self._began = True
        threading.Thread(target=self._run, name="stream-app-build", daemon=True).start()

    def _run(self) -> None:
        try:
            self._app = self._build()
        except BaseException as exc:  # reported on every request, and logged once here
            logger.exception("the event-stream app could not be built")
            self._error = exc
        finally:
            self._done.set()

    async def app(self) -> Any:
        """The built app (waiting for the build without blocking the loop); raises what the build raised."""
        self.start()
        if not self._done.is_set():
            await asyncio.to_thread(self._done.wait)
        if self._error is not None:
            raise self._error
        async with self._entering:
            if self._lifespan is None:
                # The app's own lifespan (closing its hub and runtime) is entered once it exists.
                stack = contextlib.AsyncExitStack()
                await stack.enter_async_context(self._app.router.lifespan_context(self._app))
                self._lifespan = stack
        return self._app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self._serve_lifespan(receive, send)
            return
        if scope["type"] == "http" and scope.get("path") == HEALTH_PATH and not self._done.is_set():
            await _json(send, 200, {"status": "ok", "ready": False})
            self.start()  # after the answer: the build's imports would hold the GIL the answer needs
            return
        try:
            app = await self.app()
        except Exception as exc:
            await _json(send, 503, {"title": "The event stream is unavailable", "status": 503, "detail": str(exc)})
            return
        await app(scope, receive, send)

    async def _serve_lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._lifespan is not None:
                    with contextlib.suppress(Exception):
                        await self._lifespan.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return


async def _json(send: Any, status: int, body: dict[str, Any]) -> None:
    data = json.dumps(body).encode()
    content_type = b"application/json" if status < 400 else b"application/problem+json"
    headers = [(b"content-type", content_type), (b"content-length", str(len(data)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})


def main() -> None:
    import uvicorn

    port = port_from_env()
    # Only the adapter, in the same sandbox, talks to this server.
    uvicorn.run(DeferredApp(create_stream_app), host="127.0.0.1", port=port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
