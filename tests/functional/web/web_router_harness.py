"""An API app with the web router mounted, over the offline runtime, with a local token on disk."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient

from dexa.api.app import create_app
from dexa.api.fake_runtime import FakeRuntime, fake_runtime, tool_loop_model
from dexa.auth.bootstrap import bootstrap_local, read_local_token
from dexa.auth.service import AuthService
from dexa.web import HandoffCodes, create_web_router


@dataclass
class WebApp:
    app: FastAPI
    runtime: FakeRuntime
    token: str
    home: Path
    codes: HandoffCodes

    def client(self, *, peer: str = "127.0.0.1", base_url: str = "http://127.0.0.1:4096") -> TestClient:
        return TestClient(self.app, base_url=base_url, client=(peer, 50000), follow_redirects=False)


def build(tmp_path: Path, *, local: bool = True) -> WebApp:
    home = tmp_path / "home"
    runtime = fake_runtime(home, model=tool_loop_model(tool_calls=0, delay_s=0), workspace=tmp_path / "ws")
    token = asyncio.run(bootstrap_local(AuthService(runtime.store), home))
    source: Callable[[], str | None] | None = (lambda: read_local_token(home)) if local else None
    codes = HandoffCodes()
    web = create_web_router(local_token=source, handoff_codes=codes)
    app = create_app(runtime, default_cwd=str(tmp_path / "ws"), extra_routers=[web])
    return WebApp(app=app, runtime=runtime, token=token, home=home, codes=codes)
