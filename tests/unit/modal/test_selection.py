"""DEXA_SANDBOX=modal, entered where clients enter: POST /sessions takes a cwd in the remote workspace namespace
(it need not exist on the API's disk), and the session's environment gets the Modal workspace, whose missing
token is a ConfigError naming the secret when a command first needs it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from dexa.adapters.modal import ModalSandbox
from dexa.auth.service import AuthService
from dexa.core.errors import ConfigError
from dexa.server_app import build_app
from dexa.settings import DexaSettings
from dexa.wiring import Runtime, build_runtime


@pytest.fixture
def rig(tmp_path: Path) -> tuple[Runtime, TestClient, dict[str, str]]:
    runtime = build_runtime(
        DexaSettings(home=tmp_path / "home", sandbox="modal", hosted=True), env={"HOME": str(tmp_path)}
    )
    app = build_app(runtime)

    async def setup() -> str:
        auth = AuthService(runtime.store)
        org = await auth.create_org("acme", org_id="org_acme")
        user = await auth.create_user(org.id, "ada", "admin", user_id="usr_ada")
        return (await auth.create_key(org.id, user.id, "ada"))[1]

    token = asyncio.run(setup())
    client = TestClient(app, base_url="http://127.0.0.1:4096", client=("127.0.0.1", 50000))
    return runtime, client, {"Authorization": f"Bearer {token}"}


def test_a_remote_cwd_is_checked_in_the_workspace_namespace_not_on_the_api_disk(
    rig: tuple[Runtime, TestClient, dict[str, str]],
) -> None:
    _, client, auth = rig
    for cwd, want in (
        ("/workspace/repo", "/workspace/repo"),
        ("repo/sub", "/workspace/repo/sub"),
        (None, "/workspace"),
    ):
        body = {"cwd": cwd} if cwd is not None else {}
        r = client.post("/sessions", json=body, headers=auth)
        assert r.status_code == 201, r.text
        assert r.json()["cwd"] == want and not Path(want).exists()
    for hostile in ("/etc", "../../etc", "/workspace/../root", "/workspace-other"):
        r = client.post("/sessions", json={"cwd": hostile}, headers=auth)
        assert r.status_code == 403 and "outside the session workspace" in r.text, (hostile, r.text)
    assert client.post("/sessions", json={"cwd": "a\x00b"}, headers=auth).status_code in (400, 422)


def test_the_session_gets_the_modal_workspace_and_a_missing_token_names_the_secret(
    rig: tuple[Runtime, TestClient, dict[str, str]],
) -> None:
    runtime, client, auth = rig
    r = client.post("/sessions", json={"cwd": "/workspace/repo"}, headers=auth)
    sid = r.json()["id"]

    async def main() -> None:
        session = await runtime.store.get_session(sid)
        env = await runtime.envs.env_for(session)  # building the environment needs no token
        ws = env.workspace
        assert isinstance(ws, ModalSandbox)
        assert (ws.root, ws.mount, ws.volume_name) == ("/workspace/repo", "/workspace", f"dexa-ws-{sid}")
        assert ws.tags["org"] == "org_acme"
        with pytest.raises(ConfigError, match="DEXA_MODAL_SECRET_ARN"):
            await ws.exec("true", cwd=ws.root)

    asyncio.run(main())


def test_a_turn_that_needs_no_workspace_runs_without_a_modal_token(
    rig: tuple[Runtime, TestClient, dict[str, str]], tmp_path: Path
) -> None:
    runtime, _, _ = rig
    script = tmp_path / "script.json"
    script.write_text('{"turns": [{"text": "no tools needed"}]}')

    async def main() -> None:
        session = await runtime.create_session(cwd="/workspace", model=f"scripted:{script}", org_id="org_acme")
        await runtime.engine.submit(session.id, "hello")
        done = await runtime.driver.run(session.id)
        assert done.result == "no tools needed" and not done.error
        warnings = [e.data["message"] for e in await runtime.store.read_events(session.id) if e.type == "warning"]
        assert len(warnings) == 1 and "DEXA_MODAL_SECRET_ARN" in warnings[0]  # the prompt's checkpoint said why

    asyncio.run(main())
