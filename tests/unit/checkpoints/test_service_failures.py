from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dexa.adapters.sqlite import FileBlobStore, SqliteStore
from dexa.checkpoints import CheckpointService
from dexa.core.errors import StorageError
from dexa.testing.fakes import DirWorkspace


class FullDisk(FileBlobStore):
    async def put_blob(self, data: bytes) -> str:
        raise StorageError("blob store is full")


def _service(tmp_path: Path, blobs: FileBlobStore, ws: DirWorkspace) -> tuple[CheckpointService, list[Any]]:
    events: list[tuple[str, Mapping[str, Any]]] = []

    async def emit(session_id: str, type_: str, data: Mapping[str, Any]) -> None:
        events.append((type_, data))

    async def workspace_for(session_id: str) -> DirWorkspace:
        return ws

    return CheckpointService(SqliteStore(tmp_path / "db.sqlite"), blobs, workspace_for, emit=emit), events


def test_a_failed_checkpoint_warns_and_never_fails_the_turn(tmp_path: Path) -> None:
    (tmp_path / "ws").mkdir()
    (tmp_path / "ws" / "a.txt").write_text("a")
    service, events = _service(tmp_path, FullDisk(tmp_path / "blobs"), DirWorkspace(tmp_path / "ws"))
    assert asyncio.run(service.checkpoint("s1", reason="prompt", message_id=None)) is None
    assert events == [
        ("warning", {"code": "checkpoint_failed", "message": "checkpoint (prompt) failed: blob store is full"})
    ]


def test_a_workspace_without_a_host_path_warns_once(tmp_path: Path) -> None:
    ws = DirWorkspace(tmp_path)
    ws.is_remote = True  # type: ignore[attr-defined]
    service, events = _service(tmp_path, FileBlobStore(tmp_path / "blobs"), ws)

    async def main() -> list[str | None]:
        return [await service.checkpoint("s1", reason=r, message_id=None) for r in ("prompt", "tool", "turn_end")]

    assert asyncio.run(main()) == [None, None, None]
    assert len(events) == 1 and "stat listing" in events[0][1]["message"]
