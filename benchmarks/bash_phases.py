"""Where the time of each Bash in `dexa run -p` goes: wall and CPU of the Bash tool's phases over the headless
benchmark's session (10 x [Bash `echo N >> log.txt`, Read log.txt]), in one process, against the loopback
Messages-API server, offline.

    .venv/bin/python benchmarks/bash_phases.py           # BENCH_RUNS=3 sessions, each phase's median

The phases are timed by wrapping the functions that carry them (the checkpoint before the call, the journal and
launch: the command handed to a sandbox started ahead of it, or a spawn when none was waiting, the wait for the
sandbox, the sweep of what the command left running, the journal's read back, and, after the call, the start of
the next command's sandbox, which overlaps the wait for the model). The first
session of the process imports everything and is not counted; CPU is this process's only (time.process_time: the
sandbox's own processes are not in it), so it is the stable figure on a loaded machine.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from headless import RUN_CMD, dexa_env, script_for

from dexa.testing.messages_api import serve
from dexa.testing.script import Script

RUNS = int(os.environ.get("BENCH_RUNS", "3"))

DRIVER = r"""
import collections, functools, json, os, sys, time
import dexa.cli.main
from dexa.adapters.local_sandbox import journal, launch, spare, workspace
from dexa.checkpoints.service import CheckpointService
from dexa.checkpoints.snapshot import Snapshotter
from dexa.core.steps_run import RunSteps
from dexa.tools.shell import Bash

stats = collections.defaultdict(lambda: [0, 0.0, 0.0])
counting = False


def timed(owner, name, label):
    real = getattr(owner, name)
    stats[label]  # rows print in the order they are registered here

    def account(started, cpu):
        if counting:
            row = stats[label]
            row[0] += 1
            row[1] += time.perf_counter() - started
            row[2] += time.process_time() - cpu

    if hasattr(real, "__code__") and real.__code__.co_flags & 0x80:  # a coroutine function
        @functools.wraps(real)
        async def wrapper(*args, **kwargs):
            started, cpu = time.perf_counter(), time.process_time()
            try:
                return await real(*args, **kwargs)
            finally:
                account(started, cpu)
    else:
        @functools.wraps(real)
        def wrapper(*args, **kwargs):
            started, cpu = time.perf_counter(), time.process_time()
            try:
                return real(*args, **kwargs)
            finally:
                account(started, cpu)
    setattr(owner, name, wrapper)


timed(RunSteps, "_execute", "tool call, all of it (Bash and Read)")
timed(CheckpointService, "checkpoint", "checkpoint (prompt, before each Bash, turn end)")
timed(Snapshotter, "capture", "  walk and hash the tree")
timed(CheckpointService, "_commit", "  manifest, row, event")
timed(Bash, "call", "Bash tool")
timed(workspace.LocalSandbox, "exec", "  LocalSandbox.exec")
timed(workspace.LocalSandbox, "_launch_job", "    journal and launch")
timed(spare.SpareSlot, "take", "      hand the command to the waiting sandbox")
timed(launch.Launcher, "launch", "      spawn (no sandbox was waiting)")
timed(launch.Launcher, "wait", "    wait for the sandbox")
timed(journal.JobDir, "end_sandbox", "    sweep of leftovers")
timed(journal.JobDir, "result", "    read the result back")
timed(spare.SpareSlot, "refill", "start the next Bash's sandbox (after the call)")

sys.argv = ["dexa", *sys.argv[2:]]


def session():
    try:
        dexa.cli.main.main()
    except SystemExit:
        pass


session()
os.remove("log.txt")
counting = True
session()
print(json.dumps({label: row for label, row in stats.items()}), file=sys.stderr)
"""


def one_run(tmp: Path, i: int) -> dict[str, list[float]]:
    ws = tmp / f"ws{i}"
    ws.mkdir()
    script = tmp / f"script{i}.json"
    script.write_text(json.dumps(script_for(ws)))
    with serve(Script.load(script)) as server:
        cmd = [sys.executable, "-c", DRIVER, "--", *RUN_CMD[3:]]
        proc = subprocess.run(
            cmd, env=dexa_env(server.url, tmp / "home"), cwd=ws, capture_output=True, text=True, timeout=300
        )
    if proc.returncode != 0:
        raise SystemExit(f"the session failed: {proc.stderr[-2000:]}")
    return json.loads(proc.stderr.strip().splitlines()[-1])


def main() -> None:
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="dexa-bash-phases-") as tmp:
        runs = [one_run(Path(tmp), i) for i in range(RUNS)]
    print(f"Bash phases of a headless session, median of {RUNS} sessions (load {load:.1f} -> {os.getloadavg()[0]:.1f})")
    print(f"{'phase':50} {'calls':>5} {'wall ms/call':>13} {'CPU ms/call':>12} {'CPU ms/session':>15}")
    for label in runs[0]:
        calls = int(statistics.median(r[label][0] for r in runs))
        wall = statistics.median(r[label][1] * 1000 / max(r[label][0], 1) for r in runs)
        cpu = statistics.median(r[label][2] * 1000 / max(r[label][0], 1) for r in runs)
        print(f"{label:50} {calls:5d} {wall:13.2f} {cpu:12.2f} {cpu * calls:15.1f}")


if __name__ == "__main__":
    main()
