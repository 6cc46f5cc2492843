"""Checkpoints and rewind of a remote (Modal) workspace on the stand-in, in a bounded number of round trips."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from standin_rig import MakeWorkspace

from dexa.adapters.modal import ModalSandbox
from dexa.adapters.sqlite import FileBlobStore, SqliteStore
from dexa.checkpoints import CheckpointService
from dexa.core.session import Session

SETUP = r"""
set -e
git init -q .
printf 'build/\n*.log\n' > .gitignore
mkdir -p src/pkg build empty/inner
for i in $(seq 1 300); do echo "module $i" > src/pkg/m$i.py; done
echo 'print(1)' > src/main.py
printf '#!/bin/sh\necho hi\n' > run.sh && chmod 755 run.sh
echo artefact > build/out.bin && echo noise > debug.log
echo gone-later > empty/inner/only.txt
ln -s src/main.py link.py
# Older than the racy-clean window: files written in the same instant as a checkpoint are re-hashed next time (as
# git's index does), which would make the "only what changed" count below depend on the clock.
find . -path ./.git -prune -o -print0 | xargs -0 touch -h -d '1 minute ago'
"""


class Counting:
    """Counts the round trips a ModalSandbox makes (execs and filesystem calls)."""

    def __init__(self, ws: ModalSandbox) -> None:
        self.execs = 0
        self.fs = 0
        call, fs = ws._call, ws._fs

        async def counted_call(*args: Any, **kwargs: Any) -> Any:
            self.execs += 1
            return await call(*args, **kwargs)

        async def counted_fs(*args: Any, **kwargs: Any) -> Any:
            self.fs += 1
            return await fs(*args, **kwargs)

        ws._call = counted_call  # type: ignore[method-assign]
        ws._fs = counted_fs  # type: ignore[method-assign]

    def take(self) -> tuple[int, int]:
        out, self.execs, self.fs = (self.execs, self.fs), 0, 0
        return out


def _service(tmp_path: Path, ws: ModalSandbox) -> tuple[CheckpointService, SqliteStore, list[Any]]:
    store = SqliteStore(tmp_path / "db.sqlite")
    events: list[tuple[str, Mapping[str, Any]]] = []

    async def emit(session_id: str, type_: str, data: Mapping[str, Any]) -> None:
        events.append((type_, data))

    async def workspace_for(session_id: str) -> ModalSandbox:
        return ws

    return CheckpointService(store, FileBlobStore(tmp_path / "blobs"), workspace_for, emit=emit), store, events


def test_checkpoint_and_rewind_restore_files_in_the_remote_workspace(
    make_workspace: MakeWorkspace, standin: Any, tmp_path: Path
) -> None:
    ws = make_workspace(root="/workspace/repo")
    service, store, events = _service(tmp_path, ws)
    sid = ws.session_id

    async def main() -> None:
        now = time.time()
        await store.create_session(
            Session(id=sid, org_id="org_a", user_id="u", cwd=ws.root, model="m", created_at=now, updated_at=now)
        )
        assert (await ws.exec(SETUP, cwd=ws.root)).exit_code == 0
        trips = Counting(ws)

        first = await service.checkpoint(sid, reason="prompt", message_id=None)
        assert first == "ckpt_0001"
        execs, fs = trips.take()
        assert execs <= 2 and fs <= 1, (execs, fs)  # one listing, one batched read (plus its upload)
        described = await service.describe(sid, first)
        assert described["files"] == 304  # 300 modules, main.py, run.sh, .gitignore, only.txt
        assert {s["path"]: s["reason"] for s in described["skipped"]} == {"link.py": "symlink"}

        await ws.exec(
            "echo changed > src/main.py && rm src/pkg/m7.py && echo new > src/new.py"
            " && echo 'echo changed' >> run.sh && chmod 600 run.sh && rm -r empty && echo more > build/out.bin",
            cwd=ws.root,
        )
        hashed_before = service.snapshotter.hash_calls
        trips.take()
        second = await service.checkpoint(sid, reason="tool", message_id=None)
        assert second == "ckpt_0002"
        assert service.snapshotter.hash_calls - hashed_before == 3  # main.py, new.py, run.sh: only what changed
        assert trips.take()[0] <= 2

        # Modal's idle timeout ends the sandbox before the rewind: the rewind runs in the restored one.
        standin.expire(name=ws.sandbox_name)
        trips.take()
        report = await service.rewind(sid, checkpoint_id=first, mode="code", on_conflict="ask")
        assert report["status"] == "ok", report
        assert sorted(report["restored"]) == ["empty/inner/only.txt", "run.sh", "src/main.py", "src/pkg/m7.py"]
        assert report["deleted"] == ["src/new.py"]
        execs, fs = trips.take()
        assert execs <= 6, execs  # restart, listing, undo checkpoint's read, one apply

        check = await ws.exec(
            "cat src/main.py src/pkg/m7.py empty/inner/only.txt build/out.bin; stat -c %a run.sh;"
            " test -e src/new.py || echo no-new; readlink link.py",
            cwd=ws.root,
        )
        assert check.stdout == "print(1)\nmodule 7\ngone-later\nmore\n755\nno-new\nsrc/main.py\n"
        assert ws.restarts == 1
        assert [t for t, _ in events].count("session.rewound") == 1

        # The rewind can itself be undone: it took a checkpoint of what it replaced.
        undo = report["undo_checkpoint_id"]
        await service.rewind(sid, checkpoint_id=undo, mode="code", on_conflict="overwrite")
        assert (await ws.read_bytes(ws.root + "/src/main.py")) == b"changed\n"

    asyncio.run(main())


def test_an_edit_made_outside_dexa_is_a_conflict_until_the_caller_decides(
    make_workspace: MakeWorkspace, tmp_path: Path
) -> None:
    ws = make_workspace()
    service, store, _ = _service(tmp_path, ws)
    sid = ws.session_id

    async def main() -> None:
        now = time.time()
        await store.create_session(
            Session(id=sid, org_id="org_a", user_id="u", cwd=ws.root, model="m", created_at=now, updated_at=now)
        )
        await ws.write_bytes(ws.root + "/notes.md", b"v1\n")
        first = await service.checkpoint(sid, reason="prompt", message_id=None)
        await ws.write_bytes(ws.root + "/notes.md", b"v2\n")
        await service.checkpoint(sid, reason="tool", message_id=None)
        await ws.exec("echo by-hand > notes.md", cwd=ws.root)  # never seen by a checkpoint
        asked = await service.rewind(sid, checkpoint_id=str(first), mode="code", on_conflict="ask")
        assert asked["status"] == "conflict" and asked["conflicts"] == ["notes.md"]
        assert await ws.read_bytes(ws.root + "/notes.md") == b"by-hand\n"
        kept = await service.rewind(sid, checkpoint_id=str(first), mode="code", on_conflict="keep_copy")
        assert kept["status"] == "ok" and await ws.read_bytes(ws.root + "/notes.md") == b"v1\n"
        copy = kept["kept_copies"][0]["copy"]
        assert await ws.read_bytes(f"{ws.root}/{copy}") == b"by-hand\n"

    asyncio.run(main())
