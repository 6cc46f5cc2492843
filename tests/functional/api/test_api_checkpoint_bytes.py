"""The session resource reports how many bytes its checkpoints added to the blob store."""

from __future__ import annotations

import asyncio
from pathlib import Path

from api_harness import make_api
from fastapi.testclient import TestClient

from dexa.adapters.sqlite import FileBlobStore
from dexa.checkpoints import CheckpointService
from dexa.testing.fakes import DirWorkspace


def test_session_resource_shows_checkpoint_store_bytes(tmp_path: Path) -> None:
    api = make_api(tmp_path)
    with TestClient(api.app) as client:
        r = client.post("/sessions", json={"title": "t"}, headers=api.h("a_member"))
        assert r.status_code == 201, r.text
        sid = r.json()["id"]
        assert client.get(f"/sessions/{sid}", headers=api.h()).json()["checkpoint_bytes"] == 0

        ws = tmp_path / "ckpt-ws"
        ws.mkdir()
        (ws / "data.bin").write_bytes(b"z" * 10_000)

        async def workspace_for(session_id: str) -> DirWorkspace:
            return DirWorkspace(ws)

        service = CheckpointService(api.runtime.store, FileBlobStore(tmp_path / "ckpt-blobs"), workspace_for)
        asyncio.run(service.checkpoint(sid, reason="prompt", message_id=None))

        got = client.get(f"/sessions/{sid}", headers=api.h()).json()["checkpoint_bytes"]
        assert 10_000 < got < 12_000  # the content plus its manifest
        listed = client.get("/sessions", headers=api.h()).json()["data"]
        assert [s["checkpoint_bytes"] for s in listed if s["id"] == sid] == [got]
