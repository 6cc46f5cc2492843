from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from dexa.checkpoints.hostfs import HostDirWorkspace
from dexa.core.errors import SandboxError
from dexa.core.ports import Workspace


def test_host_workspace_reads_writes_and_removes_only_inside_its_root(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    root.mkdir()
    (tmp_path / "outside.txt").write_text("host")
    (root / "link").symlink_to(tmp_path / "outside.txt")
    ws = HostDirWorkspace(str(root))
    assert isinstance(ws, Workspace)

    async def main() -> None:
        await ws.write_bytes(str(root / "a" / "b.txt"), b"data")
        assert await ws.read_bytes(str(root / "a" / "b.txt")) == b"data"
        assert await ws.exists(str(root / "a")) and await ws.is_dir(str(root / "a"))
        assert sorted(await ws.walk(str(root))) == [str(root / "a" / "b.txt")]
        await ws.remove(str(root / "a"))
        assert not (root / "a").exists()
        for bad in (str(tmp_path / "outside.txt"), str(root / "link"), str(root / ".." / "outside.txt")):
            with pytest.raises(SandboxError, match="outside the workspace"):
                await ws.read_bytes(bad)
        with pytest.raises(SandboxError, match="workspace root"):
            await ws.remove(str(root))
        with pytest.raises(SandboxError, match="cannot run commands"):
            await ws.exec("ls", cwd=str(root))

    asyncio.run(main())
    with pytest.raises(SandboxError, match="not a directory"):
        HostDirWorkspace(str(tmp_path / "missing"))
