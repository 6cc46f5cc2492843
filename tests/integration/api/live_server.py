"""Run an ASGI app under a real uvicorn server on a free loopback port, in a background thread."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn


@contextmanager
def live_server(app: Any, *, timeout: float = 10.0) -> Iterator[str]:
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, log_level="warning", lifespan="on", timeout_graceful_shutdown=1
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), name="uvicorn-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout)


def build_app(tmp: Any, *, model: Any, policy: Any = None, stream: Any = None) -> tuple[Any, Any, dict[str, str]]:
    """An app over an offline runtime with one org and an admin and a member key: (app, runtime, tokens)."""
    from dexa.api.app import create_app
    from dexa.api.fake_runtime import fake_runtime
    from dexa.api.ratelimit import RateLimit
    from dexa.api.sse import StreamConfig
    from dexa.auth.service import AuthService

    runtime = fake_runtime(tmp / "home", model=model, policy=policy, workspace=tmp / "ws")
    auth = AuthService(runtime.store)
    tokens: dict[str, str] = {}

    async def setup() -> None:
        await auth.create_org("it", org_id="org_it")
        for role in ("admin", "member", "reviewer"):
            await auth.create_user("org_it", role, role, user_id=f"usr_{role}")
            tokens[role] = (await auth.create_key("org_it", f"usr_{role}", role))[1]

    asyncio.run(setup())
    app = create_app(
        runtime,
        auth=auth,
        default_cwd=str(tmp / "ws"),
        rate_limit=RateLimit(rate=10_000, burst=10_000),
        stream=stream or StreamConfig(heartbeat_s=15, poll_s=0.5),
    )
    return app, runtime, tokens
