"""Cold-start import time inside the emulated Lambda containers (tests/cloud_e2e), with the real synthesized layer.

    .venv/bin/python benchmarks/cloud_cold_start.py [--script hello] [--top 8]

Deploys the emulated stack, starts every container with `python -X importtime`, runs one session turn through the
API (create -> Step Functions -> step Lambda -> the loopback model), and reads each container's log: the imports
of the init phase (the handler module, before the first Runtime API poll), those of the first invocation (the
runtime build: wiring, stores, FastAPI for the API, the model client for the step), and those of every later
invocation of the same container (anything still imported lazily). Targets (issue 14): API <= 500 ms, step <= 800
ms including the model client. Also prints the wall time from container spawn to its first Runtime API poll
(bwrap + interpreter + awslambdaric + the handler import).
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
from dataclasses import dataclass, field
from pathlib import Path

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
    for kind in ("Api", "Step", "Webhooks", "Scheduler", "Reconciler", "Stream", "Authorizer"):
        if kind.lower() in function.lower():
            return kind
    return function


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--script", default="hello", help="the model script the turn runs (tests/cloud_e2e/scripts)")
    parser.add_argument("--top", type=int, default=8, help="biggest imports listed per function")
    args = parser.parse_args()
    with running(synthesize()) as cloud:
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
            target = TARGET_MS.get(kind)
            verdict = "" if target is None else (" ok" if total <= target else f" OVER {target}")
            failed = failed or (target is not None and total > target)
            print(
                f"  {kind:<10} {log.name:<48} imports: init {init.total_ms:5.0f} ms + first call "
                f"{first.total_ms:5.0f} ms + later calls {rest:5.0f} ms = {total:5.0f} ms{verdict}"
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
