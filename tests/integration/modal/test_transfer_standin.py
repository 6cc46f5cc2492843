"""Moving a session whose workspace is a Modal sandbox (the stand-in): packed through the port in a bounded number
of round trips, rebuilt on this host byte for byte and mode for mode, and written into another session's sandbox."""

from __future__ import annotations

import asyncio
import os
import stat
from pathlib import Path

from standin_rig import MakeWorkspace

from dexa.transfer.remote import materialize_remote, pack_remote
from dexa.transfer.workspace import materialize

SETUP = r"""
set -e
printf 'build/\n*.log\n' > .gitignore
mkdir -p src/pkg build node_modules/dep
for i in $(seq 1 50); do echo "module $i" > src/pkg/m$i.py; done
printf '#!/bin/sh\necho hi\n' > run.sh && chmod 755 run.sh
echo secret > key.pem && chmod 600 key.pem
head -c 3000 /dev/urandom > blob.bin
echo artefact > build/out.bin && echo noise > debug.log && echo 'x' > node_modules/dep/i.js
ln -s run.sh link.sh
"""
KEPT = {f"src/pkg/m{i}.py" for i in range(1, 51)} | {".gitignore", "run.sh", "key.pem", "blob.bin"}


def _files(root: Path) -> dict[str, tuple[bytes, int]]:
    out: dict[str, tuple[bytes, int]] = {}
    for here, _dirs, names in os.walk(root):
        for path in (Path(here) / name for name in names):
            st = path.lstat()
            if stat.S_ISREG(st.st_mode):
                out[str(path.relative_to(root))] = (path.read_bytes(), stat.S_IMODE(st.st_mode))
    return out


def test_a_sandbox_workspace_travels_to_this_host_and_into_another_sandbox(
    make_workspace: MakeWorkspace, tmp_path: Path
) -> None:
    source = make_workspace(root="/workspace/repo")
    target = make_workspace(session_id=f"{source.session_id}-b", root="/workspace")

    async def main() -> None:
        assert (await source.exec(SETUP, cwd=source.root)).exit_code == 0
        packed = await pack_remote(source, source.root)
        assert {f.path for f in packed.files} == KEPT
        here = materialize(packed, tmp_path / "pulled")
        got = _files(here)
        assert set(got) == KEPT
        modes = {row[0]: row[4] for row in (await source.list_tree(source.root))["files"]}
        for rel, (data, mode) in got.items():
            assert data == await source.read_bytes(f"{source.root}/{rel}"), rel
            assert mode == modes[rel], rel
        assert got["run.sh"][1] == 0o755 and got["key.pem"][1] == 0o600

        assert await materialize_remote(target, target.root, packed) == len(KEPT)
        listing = await target.list_tree(target.root)
        assert {row[0]: row[4] for row in listing["files"]} == {rel: mode for rel, (_d, mode) in got.items()}
        for rel, (data, _mode) in got.items():
            assert await target.read_bytes(f"{target.root}/{rel}") == data, rel

    asyncio.run(main())
