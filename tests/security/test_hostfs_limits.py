"""File tools on odd files (issue 13 item 7, medium attacks): a FIFO, a socket, a 2 GiB sparse file and a NUL byte in
a path each give a clear tool error quickly, the server's memory stays flat, and the turn goes on."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable
from pathlib import Path
from typing import TypeVar

import pytest
from hostfs_rig import sandbox_context, tree_state

from dexa.adapters.local_sandbox import LocalSandbox
from dexa.adapters.sqlite import SqliteStore
from dexa.config.loader import load_settings
from dexa.core.driver import InProcessDriver
from dexa.core.engine import TurnEngine
from dexa.core.environment import SessionEnv
from dexa.core.errors import SandboxError
from dexa.core.session import Session
from dexa.core.tools import ToolRegistry
from dexa.permissions.engine import PermissionEngine
from dexa.testing.fakes import StaticEnvs
from dexa.testing.scripted import ScriptedModel, text, tool_use
from dexa.tools.files import Edit, Read, Write
from dexa.tools.search import Glob, Grep

T = TypeVar("T")


def _workspace(tmp_path: Path) -> tuple[Path, Path]:
    root = tmp_path / "ws"
    root.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("outside\n")
    return root, outside


async def timed(call: Awaitable[T], fifo: Path) -> tuple[float, T]:
    """(seconds taken, result); an AssertionError after 5 s, once the blocked call was let go (not a hung test)."""
    started = time.monotonic()
    try:
        out = await asyncio.wait_for(call, 5)
    except TimeoutError:
        for flags in (os.O_WRONLY | os.O_NONBLOCK, os.O_RDONLY | os.O_NONBLOCK):  # wake a stuck reader or writer
            try:
                os.close(os.open(fifo, flags))
            except OSError:
                pass
        raise AssertionError("a file operation blocked on the FIFO") from None
    return time.monotonic() - started, out


def test_a_fifo_is_refused_within_two_seconds_and_never_blocks(tmp_path: Path) -> None:
    root, outside = _workspace(tmp_path)
    before = tree_state(outside)
    fifo = root / "pipe"
    os.mkfifo(fifo)
    (root / "normal.txt").write_text("needle\n")
    ctx = sandbox_context(root, tmp_path / "state")

    async def main() -> None:
        ctx.state.read_files[str(fifo)] = time.time() + 60  # as if Read had seen it: Write goes on to the file
        for call in (
            Read().run({"file_path": str(fifo)}, ctx),
            Grep().run({"pattern": "x", "path": str(fifo)}, ctx),
            Write().run({"file_path": str(fifo), "content": "x"}, ctx),  # no reader: must not wait for one
        ):
            elapsed, out = await timed(call, fifo)
            assert elapsed < 2 and out.is_error and "FIFO" in out.content, (elapsed, out)
        elapsed, out = await timed(Grep().run({"pattern": "needle", "path": str(root)}, ctx), fifo)
        assert elapsed < 2 and not out.is_error and "normal.txt" in out.content  # the FIFO is skipped, not read
        elapsed, out = await timed(Glob().run({"pattern": "*", "path": str(root)}, ctx), fifo)
        assert elapsed < 2 and "pipe" not in out.content

    asyncio.run(main())
    assert tree_state(outside) == before


def test_a_socket_and_a_fifo_with_a_reader_are_refused_not_written(tmp_path: Path) -> None:
    root, _ = _workspace(tmp_path)
    ctx = sandbox_context(root, tmp_path / "state")
    sock_path = root / "s.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(sock_path))
    fifo = root / "pipe"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:

        async def main() -> None:
            _, read = await timed(Read().run({"file_path": str(sock_path)}, ctx), fifo)
            assert read.is_error and "socket" in read.content, read.content
            ctx.state.read_files[str(fifo)] = time.time() + 60
            _, write = await timed(Write().run({"file_path": str(fifo), "content": "into the pipe"}, ctx), fifo)
            assert write.is_error and "FIFO" in write.content, write.content
            with pytest.raises(SandboxError, match="FIFO"):  # the port itself, below the tool's own checks
                await timed(ctx.workspace.write_bytes(str(fifo), b"into the pipe"), fifo)

        asyncio.run(main())
        assert os.read(reader, 100) == b""  # nothing reached whoever reads the pipe
    finally:
        os.close(reader)
        server.close()


SPARSE_PROBE = r"""
import asyncio, json, resource, sys
from pathlib import Path
from dexa.adapters.local_sandbox import LocalSandbox
from dexa.testing.fakes import tool_context
from dexa.tools.files import Read, Edit
from dexa.tools.search import Grep

root, state, big = sys.argv[1:4]

def hwm_kib():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])

async def main():
    box = LocalSandbox(root, state_dir=state)
    ctx = tool_context(box, root, [])
    before = hwm_kib()
    read = await Read().run({"file_path": big}, ctx)
    grep_file = await Grep().run({"pattern": "x", "path": big}, ctx)
    grep_dir = await Grep().run({"pattern": "x", "path": root}, ctx)
    ctx.state.read_files[big] = 4e9  # as if it had been read: Edit must still refuse to load it
    edit = await Edit().run({"file_path": big, "old_string": "a", "new_string": "b"}, ctx)
    try:
        await box.read_bytes(big)
        port = "read it all"
    except Exception as exc:
        port = str(exc)
    after = hwm_kib()
    print(json.dumps({"grown_kib": after - before, "read": [read.is_error, read.content],
        "grep_file": [grep_file.is_error, grep_file.content], "grep_dir": [grep_dir.is_error, grep_dir.content],
        "edit": [edit.is_error, edit.content], "port": port}))

asyncio.run(main())
"""


def test_a_2_gib_sparse_file_is_refused_and_memory_stays_flat(tmp_path: Path) -> None:
    root, _ = _workspace(tmp_path)
    big = root / "huge.log"
    with open(big, "wb") as fh:
        fh.truncate(2 << 30)  # 2 GiB of holes: costs no disk, but a naive read allocates all of it
    out = subprocess.run(
        [sys.executable, "-c", SPARSE_PROBE, str(root), str(tmp_path / "state"), str(big)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    print(f"peak RSS growth while reading a 2 GiB sparse file: {got['grown_kib']} KiB")
    assert got["grown_kib"] < 32 * 1024, got  # the old code grew by 2 GB
    for key in ("read", "grep_file", "edit"):
        is_error, message = got[key]
        assert is_error and "too large" in message and "2,147,483,648 bytes" in message, (key, message)
    assert "sed -n" in got["read"][1]  # the error says how to read part of it
    assert got["grep_dir"] == [False, "No files found"]  # in a tree search it is skipped
    assert "too large" in got["port"]  # even a caller that names no limit gets a bounded read


def test_a_nul_byte_or_an_invalid_path_gives_a_tool_error_and_the_turn_goes_on(tmp_path: Path) -> None:
    """Driven like a real session: scripted model, the real permission engine, the real tools over LocalSandbox."""
    root, outside = _workspace(tmp_path)
    home = tmp_path / "home"
    home.mkdir()
    before = tree_state(outside)
    nul = f"{root}/a\x00b"
    surrogate = f"{root}/bad-\ud800.txt"
    calls = [
        tool_use("Read", {"file_path": nul}),
        tool_use("Write", {"file_path": nul, "content": "x"}),
        tool_use("Edit", {"file_path": nul, "old_string": "a", "new_string": "b"}),
        tool_use("Glob", {"pattern": "*", "path": nul}),
        tool_use("Grep", {"pattern": "x", "path": nul}),
        tool_use("Read", {"file_path": surrogate}),
        tool_use("Write", {"file_path": surrogate, "content": "x"}),
        text("still here"),
    ]
    model = ScriptedModel(calls)
    settings, _ = load_settings(str(root), home=str(home), managed_path=None)
    env = SessionEnv(
        model=model,
        tools=ToolRegistry([Read(), Write(), Edit(), Glob(), Grep()]),
        policy=PermissionEngine(settings, cwd=str(root), home=str(home)),
        workspace=LocalSandbox(str(root), state_dir=str(tmp_path / "state")),
        system_prompt="sys",
    )
    store = SqliteStore(tmp_path / "db" / "dexa.db")
    engine = TurnEngine(store, StaticEnvs(env))
    session = Session(
        id="s1",
        org_id="o",
        user_id="u",
        cwd=str(root),
        model="scripted",
        created_at=time.time(),
        permission_mode="bypassPermissions",
    )

    async def main() -> tuple[str, list[dict[str, object]]]:
        await store.create_session(session)
        await engine.submit("s1", "go")
        done = await InProcessDriver(engine).run("s1", wait_for_approvals=False)
        events = await store.read_events("s1", limit=10_000)
        return done.status, [dict(e.data) for e in events if e.type == "tool.completed"]

    status, results = asyncio.run(main())
    assert status == "idle"
    model.assert_complete()  # the model got every result back and wrote its final answer
    assert len(results) == 7
    for result in results[:5]:
        assert result["is_error"] and "NUL byte" in str(result["content"]) and "a\\x00b" in str(result["content"])
    for result in results[5:]:
        assert result["is_error"] and "not valid text" in str(result["content"]), result
    assert "internal error" not in json.dumps(results)
    assert sorted(p.name for p in root.iterdir()) == []
    assert tree_state(outside) == before
