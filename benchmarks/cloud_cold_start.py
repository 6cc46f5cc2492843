"""Cold-start import time inside the emulated Lambda containers (tests/cloud_e2e), with the real synthesized layer.

    .venv/bin/python benchmarks/cloud_cold_start.py [--script hello] [--top 8]

Deploys the emulated stack, starts every container with `python -X importtime`, runs one session turn through the
API (create -> Step Functions -> step Lambda -> the loopback model), and reads each container's log: the imports
of the init phase (the handler module, before the first Runtime API poll), those of the first invocation (the
runtime build: wiring, stores, FastAPI for the API, the model client for the step), and those of every later
invocation of the same container (anything still imported lazily). Targets (issue 14): API <= 500 ms, step <= 800
ms including the model client. Also prints the wall time from container spawn to its first Runtime API poll
(bwrap + interpreter + awslambdaric + the handler import).

importtime reports wall time, which on a shared 2-core machine swings 3-5x with load. So each container's imports
are also replayed (--replays fresh interpreters, best kept) in the same order, against the same function asset,
layer and runtime directories and the function's environment (with a fresh DEXA_HOME, as Lambda's /tmp is fresh per
container), and the CPU time they take is printed: that figure is stable under load and is the one compared with the
targets.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from cloud_e2e.client import ApiClient  # pyright: ignore[reportMissingImports] - tests/ is put on sys.path above
from cloud_e2e.harness import running  # pyright: ignore[reportMissingImports]
from cloud_e2e.lambda_emulator import INVOCATION_MARK  # pyright: ignore[reportMissingImports]
from cloud_e2e.synth import synthesize  # pyright: ignore[reportMissingImports]

TARGET_MS = {"Api": 500, "Step": 800}
_LINE = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \| (\s*)(\S+)$")


@dataclass
class Phase:
    total_ms: float = 0.0
    top: list[tuple[float, str]] = field(default_factory=list[tuple[float, str]])

    @property
    def modules(self) -> list[str]:
        return [name for _, name in self.top]


# Replays one container's imports in a fresh interpreter: sys.path as the Lambda bootstrap sets it (asset, layer,
# runtime), then each phase's top-level imports in order; prints the CPU and wall ms of each phase.
REPLAY = """
import importlib, json, sys, time
asset, layer, runtime, phases = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
sys.path[:0] = [asset, layer + "/python", runtime]
out = []
for names in phases:
    cpu, wall = time.process_time(), time.perf_counter()
    for name in names:
        try:
            importlib.import_module(name)
        except Exception:
            pass  # a module only importable under Lambda's own state; its cost is not counted
    out.append([(time.process_time() - cpu) * 1000, (time.perf_counter() - wall) * 1000, len(sys.modules)])
print(json.dumps(out))
"""


def replay(cloud: Any, function: str, found: list[Phase], runs: int) -> tuple[list[float], int]:
    """Best-of-`runs` CPU ms per phase (init, first call, later calls) of `found`, replayed in fresh processes, and
    the number of modules loaded at the end (a load-independent measure of the same thing)."""
    config = cloud.emulator.config(function)
    layer = cloud.emulator.merged_layers(config.layer_dirs)
    handler_module = config.handler.rsplit(".", 1)[0]
    phases = [["awslambdaric.bootstrap", handler_module, *found[0].modules], found[1].modules]
    phases.append([m for p in found[2:] for m in p.modules])
    env = {**config.env, "AWS_LAMBDA_FUNCTION_NAME": function, "AWS_REGION": "us-east-1", "HOME": "/nonexistent"}
    env |= {"AWS_DEFAULT_REGION": "us-east-1", "LAMBDA_TASK_ROOT": str(config.code_dir), "PATH": os.environ["PATH"]}
    best: list[float] | None = None
    modules = 0
    for _ in range(runs):
        argv = [sys.executable, "-S", "-c", REPLAY, str(config.code_dir), str(layer), str(cloud.emulator.runtime_dir)]
        # Lambda's /tmp is fresh in every container: a home left by an earlier replay (or by any process on this
        # machine under the template's DEXA_HOME=/tmp/dexa) would hide what a cold start builds there.
        with tempfile.TemporaryDirectory(prefix="dexa-replay-home-") as home:
            result = subprocess.run(
                [*argv, json.dumps(phases)], capture_output=True, text=True, env={**env, "DEXA_HOME": home}, check=True
            )
        measured = json.loads(result.stdout)
        cpu = [ms for ms, _wall, _modules in measured]
        modules = measured[-1][2]
        best = cpu if best is None or sum(cpu) < sum(best) else best
    assert best is not None
    return best, modules


def phases(log: Path) -> list[Phase]:
    """Top-level import time per phase: [init, invocation 1, invocation 2, ...] of one container's log."""
    out = [Phase()]
    for line in log.read_text(errors="replace").splitlines():
        if line.startswith(INVOCATION_MARK):
            out.append(Phase())
            continue
        match = _LINE.match(line)
        if match and not match.group(3):  # a top-level import: its cumulative time includes its children
            ms = int(match.group(2)) / 1000
            out[-1].total_ms += ms
            out[-1].top.append((ms, match.group(4)))
    return out


def kind_of(function: str) -> str:
    for kind in ("ApiStream", "Api", "Step", "Webhooks", "Scheduler", "Reconciler", "Authorizer"):
        if kind.lower() in function.lower():
            return kind
    return function


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--script", default="hello", help="the model script the turn runs (tests/cloud_e2e/scripts)")
    parser.add_argument("--top", type=int, default=8, help="biggest imports listed per function")
    parser.add_argument("--replays", type=int, default=5, help="fresh interpreters per container (best kept)")
    parser.add_argument("--cdk-out", type=Path, help="an assembly to deploy instead of this tree's (before/after)")
    args = parser.parse_args()
    with running(args.cdk_out or synthesize()) as cloud:
        cloud.emulator.python_flags = ["-X", "importtime"]
        boot = cloud.bootstrap()
        admin = ApiClient(cloud.api.url, boot["token"], boot.get("gateway_key"))
        sid = admin.create_session(f"[script:{args.script}] cold start")["id"]
        admin.watch(sid, until="turn.completed", timeout=240)
        print("cold start inside the emulated Lambda (python -X importtime, the synthesized layer at /opt):")
        failed = False
        for log in sorted(cloud.log_dir.glob("lambda-*-*.log")):
            function = log.name.removeprefix("lambda-").rsplit("-", 1)[0]
            found = phases(log)
            if len(found) < 2:
                continue  # a container that never served an invocation
            init, first, later = found[0], found[1], found[2:]
            rest = sum(p.total_ms for p in later)
            total = init.total_ms + first.total_ms + rest
            kind = kind_of(function)
            print(
                f"  {kind:<10} {log.name:<48} importtime (wall): init {init.total_ms:5.0f} ms + first call "
                f"{first.total_ms:5.0f} ms + later calls {rest:5.0f} ms = {total:5.0f} ms"
            )
            cpu, modules = replay(cloud, function, found, args.replays)
            target = TARGET_MS.get(kind)
            verdict = "" if target is None else (" ok" if sum(cpu) <= target else f" OVER {target}")
            failed = failed or (target is not None and sum(cpu) > target)
            print(
                f"  {'':<10} {'replayed, CPU, best of ' + str(args.replays):<48} init {cpu[0]:5.0f} ms + first call "
                f"{cpu[1]:5.0f} ms + later calls {cpu[2]:5.0f} ms = {sum(cpu):5.0f} ms{verdict}; {modules} modules"
            )
            biggest = sorted(init.top + first.top + [t for p in later for t in p.top], reverse=True)[: args.top]
            print("      biggest: " + ", ".join(f"{name} {ms:.0f}" for ms, name in biggest))
        for function, inits in sorted(cloud.emulator.stats.init_seconds.items()):
            median = statistics.median(inits) * 1000
            print(f"  wall, spawn -> first Runtime API poll: {kind_of(function):<10} median {median:5.0f} ms "
                  f"({len(inits)} container(s), importtime's own overhead included)")  # fmt: skip
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
