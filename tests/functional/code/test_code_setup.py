"""Settings to parts: which GitHub credential is used, and the routers the API mounts."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from dexa.adapters.github import GitHubAppCredentials, StaticTokenCredentials
from dexa.adapters.github.fake import new_app_key
from dexa.adapters.sqlite import SqliteStore
from dexa.api.code_routes import code_routers
from dexa.code.setup import CodeSettings, build_code
from dexa.core.errors import ConfigError
from dexa.triggers import StartedSession, TriggerTask


def test_settings_come_from_the_environment_and_half_an_app_is_an_error(tmp_path: Path) -> None:
    assert CodeSettings.from_env({}) is None
    dev = CodeSettings.from_env({"GITHUB_TOKEN": "ghp_x", "DEXA_PUBLIC_URL": "https://dexa.example/"})
    assert dev is not None and dev.token == "ghp_x" and dev.public_url == "https://dexa.example"
    with pytest.raises(ConfigError, match="both DEXA_GITHUB_APP_ID"):
        CodeSettings.from_env({"DEXA_GITHUB_APP_ID": "1"})
    with pytest.raises(ConfigError, match="PRIVATE_KEY_PATH"):
        CodeSettings.from_env({"DEXA_GITHUB_APP_ID": "1", "DEXA_GITHUB_APP_PRIVATE_KEY_PATH": str(tmp_path / "no")})
    key = tmp_path / "app.pem"
    key.write_text(new_app_key()[1])
    app = CodeSettings.from_env({"DEXA_GITHUB_APP_ID": "1", "DEXA_GITHUB_APP_PRIVATE_KEY_PATH": str(key)})
    assert app is not None and app.private_key_pem.startswith("-----BEGIN")


def test_build_code_picks_the_app_over_a_token_and_mounts_proxy_webhook_and_pr_routes(tmp_path: Path) -> None:
    async def start(task: TriggerTask) -> StartedSession:
        return StartedSession(session_id="ses_x")

    async def org_for(installation: int | None, repo: str) -> str:
        return "org_a"

    async def workspace_for(session: object) -> object:
        raise AssertionError("not called")

    async def main() -> None:
        store = SqliteStore(tmp_path / "db.sqlite")
        try:
            async with httpx.AsyncClient() as http:
                pem = new_app_key()[1]
                settings = CodeSettings(app_id="7", private_key_pem=pem, token="ghp_ignored", webhook_secret="s3cret")
                wiring = build_code(settings, kv=store, state_dir=tmp_path, http=http)
                assert isinstance(wiring.credentials, GitHubAppCredentials)
                assert wiring.code.proxy_url == "http://127.0.0.1:8765/git"
                dev = build_code(CodeSettings(token="ghp_dev"), kv=store, state_dir=tmp_path, http=http)
                assert isinstance(dev.credentials, StaticTokenCredentials)
                routers = code_routers(wiring, start=start, org_for=org_for, workspace_for=workspace_for)
                assert len(routers) == 3 and "triggers" in wiring.extra
                with pytest.raises(ConfigError, match="org_for"):
                    code_routers(wiring, start=start)
                app = FastAPI()
                for router in routers:
                    app.include_router(router)
                paths = app.openapi()["paths"]  # the webhook and the git proxy stay out of the API document
                assert set(paths) == {
                    "/sessions/{session_id}/pull-requests",
                    "/sessions/{session_id}/pull-requests/close",
                }
                async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
                    resp = await client.get("/git/s/ses_x/acme/api.git/info/refs?service=git-upload-pack")
                    assert resp.status_code == 401 and "Basic" in resp.headers["www-authenticate"]
                    resp = await client.post("/webhooks/github", content=b"{}")
                    assert resp.status_code == 401
        finally:
            store.close()

    asyncio.run(main())


def test_the_served_app_mounts_the_pull_request_routes_with_github_credentials_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Entered where `dexa serve` and the API Lambda enter: build_app over a real runtime. The routes are the API's
    # (dexa.api.routers.pull_requests, composed with the git proxy's by dexa.api.code_routes).
    from dexa.server_app import build_app
    from dexa.settings import DexaSettings
    from dexa.wiring import build_runtime

    paths: dict[str, set[str]] = {}
    for token in ("", "ghp_dev"):
        monkeypatch.setenv("GITHUB_TOKEN", token)
        runtime = build_runtime(DexaSettings(home=tmp_path / f"home{token}"), env={"HOME": str(tmp_path)})
        try:
            paths[token] = set(build_app(runtime).openapi()["paths"])
        finally:
            asyncio.run(runtime.aclose())
    prs = {"/sessions/{session_id}/pull-requests", "/sessions/{session_id}/pull-requests/close"}
    assert prs <= paths["ghp_dev"]
    assert not prs & paths[""]
