"""Resource exhaustion from inside the sandbox (issue 13 item 8): a fork bomb, a memory hog, a /tmp filler.

Each is contained by the session's limits (its cgroup here; rlimits where cgroups are unusable): the command
fails, the server process and the host stay responsive, the next command runs, nothing outside changed.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sandbox_rig import make_workspace, needs_bwrap, tree_digest

from dexa.adapters.local_sandbox import LocalSandbox, SandboxLimits
from dexa.adapters.local_sandbox.cgroup import SessionCgroup, probe_cgroups
from dexa.testing.procs import processes_with, wait_until

pytestmark = [pytest.mark.anyio, needs_bwrap]
MIB = 1 << 20


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def _host_latency_ms() -> float:
    """How long the host takes to start and reap a trivial process: climbs steeply if a bomb gets loose."""
    started = time.perf_counter()
    proc = await asyncio.create_subprocess_exec("/bin/true")
    await proc.wait()
    return (time.perf_counter() - started) * 1000


@pytest.mark.skipif(probe_cgroups() is None and os.getuid() == 0, reason="root without cgroups has no pids limit")
async def test_a_fork_bomb_is_contained_and_the_host_stays_responsive(tmp_path: Path) -> None:
    root, state, outside = make_workspace(tmp_path)
    outside_before = tree_digest(outside)
    box = LocalSandbox(str(root), state_dir=str(state), limits=SandboxLimits(pids=64, cpus=1.0))
    counted = await box.exec(
        'python3 -c "import os, time\n'
        "n = 0\n"
        "try:\n"
        "    for _ in range(500):\n"
        "        if os.fork() == 0:\n"
        "            time.sleep(30); os._exit(0)\n"
        "        n += 1\n"
        "except BlockingIOError:\n"
        "    print('EAGAIN after', n)\"",
        cwd=str(root),
        timeout_s=30,
    )
    assert counted.stdout.startswith("EAGAIN after"), counted
    assert int(counted.stdout.split()[-1]) < 64
    bomb = asyncio.ensure_future(box.exec("b() { b | b & }; b; sleep 3", cwd=str(root), timeout_s=4))
    latencies = []
    while not bomb.done():
        latencies.append(await _host_latency_ms())
        await asyncio.sleep(0.1)
    await bomb
    assert latencies and max(latencies) < 1000, latencies  # the host still forks while the bomb runs
    after = await box.exec("echo alive", cwd=str(root))
    assert after.stdout == "alive\n"
    await box.close()
    assert await wait_until(lambda: not processes_with("b | b &"), timeout=5.0)
    assert tree_digest(outside) == outside_before


@pytest.mark.parametrize("enforcer", ["cgroup", "rlimit"])
async def test_allocating_past_the_memory_limit_fails_the_command_not_the_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, enforcer: str
) -> None:
    if enforcer == "cgroup" and probe_cgroups() is None:
        pytest.skip("cgroups are not usable here")
    if enforcer == "rlimit":  # where cgroups are unusable: RLIMIT_AS stands in
        monkeypatch.setattr(SessionCgroup, "create", classmethod(lambda cls, limits: None))
    root, state, outside = make_workspace(tmp_path)
    outside_before = tree_digest(outside)
    box = LocalSandbox(str(root), state_dir=str(state), limits=SandboxLimits(memory_bytes=256 * MIB))
    touch = "python3 -c \"b = bytearray({n} << 20); b[::4096] = b'x' * len(b[::4096]); print('allocated')\""
    small = await box.exec(touch.format(n=32), cwd=str(root), timeout_s=60)
    hog = await box.exec(touch.format(n=768), cwd=str(root), timeout_s=60)
    after = await box.exec("echo alive", cwd=str(root))
    await box.close()
    assert small.stdout == "allocated\n", small  # positive control: memory within the limit works
    assert hog.exit_code != 0 and "allocated" not in hog.stdout, hog  # OOM-killed (137) or MemoryError
    assert after.stdout == "alive\n"
    assert tree_digest(outside) == outside_before


async def test_filling_tmp_past_its_size_fails_with_enospc(tmp_path: Path) -> None:
    root, state, outside = make_workspace(tmp_path)
    outside_before = tree_digest(outside)
    box = LocalSandbox(str(root), state_dir=str(state), limits=SandboxLimits(tmp_bytes=16 * MIB))
    fits = await box.exec("dd if=/dev/zero of=/tmp/a bs=1M count=8 2>&1 && echo fits", cwd=str(root))
    full = await box.exec("dd if=/dev/zero of=/tmp/b bs=1M count=64 2>&1; echo rc=$?", cwd=str(root))
    await box.close()
    assert "fits" in fits.stdout  # positive control
    assert "No space left on device" in full.stdout and "rc=1" in full.stdout
    assert tree_digest(outside) == outside_before


@pytest.mark.skipif(probe_cgroups() is None, reason="no usable cgroups here")
def test_another_dexa_process_starting_up_leaves_a_live_sessions_fresh_cgroup_alone() -> None:
    # Two Dexa processes on one machine (serve + run, or two test workers): the second one's start-up sweep of
    # leftover cgroups removed the first one's empty, just-created cgroup, and its next command failed to join it.
    group = SessionCgroup.create(SandboxLimits())
    assert group is not None
    try:
        sweep = "from dexa.adapters.local_sandbox.cgroup import probe_cgroups; probe_cgroups()"
        assert subprocess.run([sys.executable, "-c", sweep], timeout=60).returncode == 0
        assert all(os.path.dirname(f) and os.path.isdir(os.path.dirname(f)) for f in group.procs_files)
    finally:
        group.remove()
