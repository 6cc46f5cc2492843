"""The sandbox's launch overhead: LocalSandbox.exec("echo hi") round trips with and without the session cgroup
and the egress network namespace (target: median <= 15 ms with both).

Run: .venv/bin/python benchmarks/sandbox_launch.py [--runs 200]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import statistics
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from dexa.adapters.local_sandbox import LocalSandbox, probe_bwrap
from dexa.adapters.local_sandbox.cgroup import SessionCgroup, probe_cgroups
from dexa.adapters.local_sandbox.egress import can_join_netns

TARGET_MS = 15.0


def _cpu_ms() -> float:
    """CPU used by this process and its reaped children: unlike wall time, it ignores other load on the host."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return (own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime) * 1000


@asynccontextmanager
async def _proxy_socket(directory: str) -> AsyncIterator[str]:
    """A listening Unix socket standing for the egress proxy (echo never connects to it)."""
    path = os.path.join(directory, "egress.sock")
    server = await asyncio.start_unix_server(lambda r, w: w.close(), path=path)
    try:
        yield path
    finally:
        server.close()


async def _measure(box: LocalSandbox, cwd: str, runs: int) -> tuple[list[float], float]:
    for _ in range(5):  # warm-up: bwrap probe, /etc copy, cgroup, egress bridge
        await box.exec("echo hi", cwd=cwd)
    times = []
    cpu_before = _cpu_ms()
    for _ in range(runs):
        started = time.perf_counter()
        result = await box.exec("echo hi", cwd=cwd)
        times.append((time.perf_counter() - started) * 1000)
        assert result.stdout == "hi\n", result
    return times, (_cpu_ms() - cpu_before) / runs


def _report(name: str, times: list[float], cpu_ms: float) -> None:
    ordered = sorted(times)
    median = statistics.median(ordered)
    p95 = ordered[max(0, int(len(ordered) * 0.95) - 1)]
    verdict = "OK" if median <= TARGET_MS else "OVER TARGET"
    print(f"{name:<34} median {median:6.2f} ms   p95 {p95:6.2f} ms   cpu {cpu_ms:5.2f} ms/run   ({verdict})")


async def main(runs: int) -> None:
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs (wall times inflate under load)")
    if reason := probe_bwrap():
        print(f"bubblewrap unusable: {reason}")
        return
    support = probe_cgroups()
    egress = "session namespace + nsenter" if can_join_netns() else "per-command socat bridge"
    print(f"cgroups: {f'v{support.version}' if support else 'none (rlimits)'}; egress: {egress}")
    real_create = SessionCgroup.create
    for name, cgroup, egress in (
        ("bare (rlimits only)", False, False),
        ("with limits (cgroup)", True, False),
        ("with egress bridge", False, True),
        ("with both", True, True),
    ):
        SessionCgroup.create = real_create if cgroup else classmethod(lambda cls, limits: None)  # type: ignore[method-assign]
        with tempfile.TemporaryDirectory() as root, tempfile.TemporaryDirectory() as state:
            async with _proxy_socket(state) as sock:
                box = LocalSandbox(root, state_dir=os.path.join(state, "s"), egress_socket=sock if egress else None)
                try:
                    _report(name, *await _measure(box, root, runs))
                finally:
                    await box.close()
    SessionCgroup.create = real_create  # type: ignore[method-assign]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=200)
    asyncio.run(main(parser.parse_args().runs))
