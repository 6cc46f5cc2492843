"""Shared parts of the host-side file attack tests: a racing "leftover sandbox process" and a canary tree.

The racer is a separate process (so the GIL does not serialise it with the code under attack) that swaps a workspace
directory with a symlink to an outside directory as fast as it can, atomically (renameat2 RENAME_EXCHANGE), so the
path always exists and is a real directory or a link at any instant.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from dexa.adapters.local_sandbox import LocalSandbox
from dexa.core.tools import ToolContext
from dexa.testing.fakes import tool_context

RACER = r"""
import ctypes, os, sys
d, spare, stop = sys.argv[1:4]
libc = ctypes.CDLL(None, use_errno=True)
swaps = 0
print("ready", flush=True)
while not os.path.exists(stop):
    if libc.renameat2(-100, d.encode(), -100, spare.encode(), 2) != 0:
        # ENOENT: the code under attack removed what stood at `d`: the link (unlinking a link never touches its
        # target, so that is a safe answer), or the real directory once it had emptied it (a rewind prunes a
        # directory its checkpoint lacks). Try again until something stands there.
        if ctypes.get_errno() == 2:
            continue
        sys.exit("renameat2 failed: errno %d" % ctypes.get_errno())
    swaps += 1
if os.path.islink(d):  # leave the real directory in place
    libc.renameat2(-100, d.encode(), -100, spare.encode(), 2)
    swaps += 1
elif not os.path.lexists(d) and os.path.isdir(spare) and not os.path.islink(spare):
    os.rename(spare, d)
print(swaps, flush=True)
"""


@contextmanager
def racing(directory: Path, outside: Path) -> Iterator[dict[str, int]]:
    """While inside the block, `directory` keeps turning into a symlink to `outside` and back."""
    # The racer's own files sit beside `outside`, not in the workspace: a rewind under test deletes what the
    # checkpoint lacks, and deleting the racer's spare link would end the race with ENOENT.
    spare = outside.with_name(outside.name + ".swap")
    stop = outside.with_name(outside.name + ".stop")
    stop.unlink(missing_ok=True)
    spare.symlink_to(outside)
    proc = subprocess.Popen(
        [sys.executable, "-c", RACER, str(directory), str(spare), str(stop)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    result = {"swaps": 0}
    try:
        time.sleep(0.01)
        yield result
    finally:
        stop.touch()
        out, _ = proc.communicate(timeout=10)
        stop.unlink()
        assert proc.returncode == 0, out
        result["swaps"] = int(out.strip())
        # Never a link at the end. Absent is allowed: a rewind may legitimately remove the emptied directory itself.
        assert not directory.is_symlink(), "the racer left a link at the raced path"
        assert directory.is_dir() or not directory.exists()
        if spare.is_symlink() or not spare.exists():
            spare.unlink(missing_ok=True)
        else:  # the workspace's old directory, left here when the code under attack removed the link at `d`
            shutil.rmtree(spare)


def tree_state(top: Path) -> dict[str, Any]:
    """Everything under `top`: each entry's kind, content or link target and mode; the canary compared after."""
    state: dict[str, Any] = {}
    for dirpath, dirnames, filenames in os.walk(top):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            st = p.lstat()
            rel = str(p.relative_to(top))
            if p.is_symlink():
                state[rel] = ("link", os.readlink(p))
            elif p.is_dir():
                state[rel] = ("dir", st.st_mode)
            else:
                state[rel] = ("file", p.read_bytes(), st.st_mode, st.st_mtime_ns)
    return state


def make_canary(outside: Path, names: list[str]) -> None:
    """An outside directory holding the same names as the workspace one, so a redirected operation hits them."""
    outside.mkdir()
    for name in names:
        (outside / name).write_text(f"CANARY {name}\n")
    (outside / "only-outside.txt").write_text("CANARY only outside\n")
    (outside / "nested").mkdir()
    (outside / "nested" / "deep.txt").write_text("CANARY deep\n")


def sandbox_context(root: Path, state_dir: Path) -> ToolContext:
    """A tool context over a real LocalSandbox: the path every model tool call takes to the host files."""
    return tool_context(LocalSandbox(str(root), state_dir=str(state_dir)), str(root), [])
