"""Export tokens and session import are tenancy boundaries: a token reads one session of one org for minutes, and
an imported session lands only in the caller's org, with nothing of the other home's configuration or files."""

from __future__ import annotations

import asyncio
import base64
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "functional" / "api"))

from api_harness import Api, make_api

from dexa.core.errors import StorageError
from dexa.transfer.tokens import ExportTokens


@pytest.fixture
def api(tmp_path: Path) -> Api:
    (tmp_path / "ws").mkdir()
    (tmp_path / "ws" / "notes.md").write_text("the workspace\n")
    return make_api(tmp_path)


def _session(client: TestClient, api: Api, who: str = "a_member") -> str:
    res = client.post("/sessions", json={"prompt": "hello"}, headers=api.h(who))
    assert res.status_code == 201, res.text
    sid = res.json()["id"]
    deadline = time.monotonic() + 20
    while client.get(f"/sessions/{sid}", headers=api.h(who)).json()["turn"] is not None:
        assert time.monotonic() < deadline, "turn did not finish"
        time.sleep(0.05)
    return sid


def _token(client: TestClient, api: Api, sid: str, who: str = "a_member") -> dict[str, Any]:
    res = client.post(f"/sessions/{sid}/export-token", json={}, headers=api.h(who))
    assert res.status_code == 201, res.text
    return res.json()


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_an_export_token_reads_its_own_session_and_nothing_else(api: Api) -> None:
    with TestClient(api.app) as client:
        mine, other = _session(client, api), _session(client, api)
        minted = _token(client, api, mine)
        assert minted["command"] == f"dexa pull {mine} --server http://testserver --token {minted['token']}"
        assert 800 < minted["expires_at"] - time.time() <= 900
        ok = client.get(f"/sessions/{mine}/export", headers=_bearer(minted["token"]))
        assert ok.status_code == 200, ok.text
        assert ok.json()["session"]["id"] == mine and ok.json()["messages"][0]["role"] == "user"

        wrong = client.get(f"/sessions/{other}/export", headers=_bearer(minted["token"]))
        assert wrong.status_code == 403 and "is for session" in wrong.json()["detail"]
        # It is no API key: no other route accepts it.
        assert client.get(f"/sessions/{mine}", headers=_bearer(minted["token"])).status_code == 401
        assert client.get("/sessions", headers=_bearer(minted["token"])).status_code == 401
        forged = client.get(f"/sessions/{mine}/export", headers=_bearer(minted["token"][:-2] + "xx"))
        assert forged.status_code == 401
        assert client.get(f"/sessions/{mine}/export").status_code == 401


def test_an_expired_token_is_refused(api: Api) -> None:
    with TestClient(api.app) as client:
        sid = _session(client, api)
        past = ExportTokens(api.runtime.store, clock=lambda: time.time() - 3600)
        token, _ = asyncio.run(past.mint(session_id=sid, org_id="org_a", user_id="usr_a_member", ttl_s=900))
        res = client.get(f"/sessions/{sid}/export", headers=_bearer(token))
        assert res.status_code == 401 and "expired" in res.json()["detail"]


def test_another_orgs_session_can_neither_be_tokenised_nor_exported(api: Api) -> None:
    with TestClient(api.app) as client:
        theirs = _session(client, api, "b_member")
        assert client.post(f"/sessions/{theirs}/export-token", headers=api.h("a_admin")).status_code == 404
        assert client.get(f"/sessions/{theirs}/export", headers=api.h("a_admin")).status_code == 404
        # A token of org a, even one claiming b's session id, is checked against the org that minted it.
        forged = ExportTokens(api.runtime.store)
        token, _ = asyncio.run(forged.mint(session_id=theirs, org_id="org_a", user_id="usr_a_member"))
        assert client.get(f"/sessions/{theirs}/export", headers=_bearer(token)).status_code == 404
        # An API key that may read sessions exports its own org's sessions.
        assert client.get(f"/sessions/{theirs}/export", headers=api.h("b_reviewer")).status_code == 200


def test_an_import_lands_in_the_callers_org_only(api: Api, tmp_path: Path) -> None:
    with TestClient(api.app) as client:
        sid = _session(client, api, "a_member")
        bundle = client.get(f"/sessions/{sid}/export", headers=api.h("a_member")).json()
        assert client.post("/sessions/import", json=bundle, headers=api.h("b_reviewer")).status_code == 403
        res = client.post("/sessions/import", json=bundle, headers=api.h("b_member"))
        assert res.status_code == 201, res.text
        imported = res.json()
        assert imported["id"] != sid and imported["turns_completed"] == 1
        cwd = Path(imported["cwd"])
        assert cwd.is_relative_to((tmp_path / "workspaces" / "org_b" / "imported").resolve())
        assert (cwd / "notes.md").read_text() == "the workspace\n"
        assert client.get(f"/sessions/{imported['id']}", headers=api.h("a_admin")).status_code == 404
        listed = client.get("/sessions", headers=api.h("b_member")).json()["data"]
        assert imported["id"] in [s["id"] for s in listed]
        messages = client.get(f"/sessions/{imported['id']}/export", headers=api.h("b_member")).json()["messages"]
        assert messages == bundle["messages"]


def test_an_import_drops_the_other_homes_configuration(api: Api) -> None:
    with TestClient(api.app) as client:
        sid = _session(client, api)
        bundle = client.get(f"/sessions/{sid}/export", headers=api.h("a_member")).json()
        bundle["session"]["config"].update(
            settings_files=["/etc/dexa/managed.json"],
            add_dirs=["/"],
            mcp_config=["/root/.mcp.json"],
            unsandboxed=True,
            sources=["int_of_org_a"],
            allowed_tools=["Read"],
        )
        bundle["permissions"]["session_allow_rules"] = ["Bash(npm test:*)"]
        res = client.post("/sessions/import", json=bundle, headers=api.h("b_member"))
        assert res.status_code == 201, res.text
        config = api.runtime.store  # the stored session, not the public view
        stored = asyncio.run(config.get_session(res.json()["id"])).config
        assert stored.settings_files == () and stored.add_dirs == () and stored.mcp_config == ()
        assert stored.unsandboxed is False and stored.sources == ()
        assert stored.allowed_tools == ("Read", "Bash(npm test:*)")


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda b: b["workspace"].update(files=[{"path": "../escape", "mode": 420, "data": ""}]), "relative path"),
        (lambda b: b["workspace"].update(files=[{"path": ".git/hooks/x", "mode": 493, "data": ""}]), "relative"),
        (lambda b: b["blobs"].update({"0" * 64: base64.b64encode(b"not that").decode()}), "does not hash"),
        (lambda b: b.update(format="dexa.session/9"), "format"),
        (lambda b: b["session"].update(model="scripted:/etc/passwd"), "scripted"),
        (lambda b: b["permissions"].update(mode="yolo"), "permission_mode"),
    ],
)
def test_a_hostile_document_is_refused_and_leaves_nothing_behind(
    api: Api, tmp_path: Path, mutate: Any, message: str
) -> None:
    api.app.state.dexa.test_mode = False  # as a real server runs
    with TestClient(api.app) as client:
        sid = _session(client, api)
        bundle = client.get(f"/sessions/{sid}/export", headers=api.h("a_member")).json()
        mutate(bundle)
        before = len(client.get("/sessions", headers=api.h("b_admin")).json()["data"])
        res = client.post("/sessions/import", json=bundle, headers=api.h("b_admin"))
        assert res.status_code in (400, 403), res.text
        assert message in res.json()["detail"]
        assert len(client.get("/sessions", headers=api.h("b_admin")).json()["data"]) == before
        imported = tmp_path / "workspaces" / "org_b" / "imported"
        assert not imported.exists() or list(imported.iterdir()) == []
    assert not (tmp_path / "escape").exists()


def test_an_import_failing_after_the_session_exists_leaves_nothing_behind(
    api: Api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The last write of an import fails (the store refuses it): the session, its records and its workspace go."""
    store = api.runtime.store
    update = store.update_session
    doomed: list[str] = []

    async def failing(session: Any, **kw: Any) -> Any:
        if "/imported/" in session.cwd:
            doomed.append(session.id)
            raise StorageError("the disk is full")
        return await update(session, **kw)

    with TestClient(api.app) as client:
        sid = _session(client, api)
        bundle = client.get(f"/sessions/{sid}/export", headers=api.h("a_member")).json()
        monkeypatch.setattr(store, "update_session", failing)
        res = client.post("/sessions/import", json=bundle, headers=api.h("b_member"))
        assert res.status_code >= 500 and "the disk is full" in res.text, res.text
        monkeypatch.undo()
        (gone,) = doomed
        assert client.get(f"/sessions/{gone}", headers=api.h("b_member")).status_code == 404
        assert client.get("/sessions", headers=api.h("b_member")).json()["data"] == []
        assert asyncio.run(store.list_messages(gone, include_hidden=True)) == []
        assert asyncio.run(store.read_events(gone)) == []
        assert asyncio.run(store.kv_get("tool_state", gone)) is None
        imported = tmp_path / "workspaces" / "org_b" / "imported"
        assert not imported.exists() or list(imported.iterdir()) == []
        # The same document imports once the store is well again.
        assert client.post("/sessions/import", json=bundle, headers=api.h("b_member")).status_code == 201
