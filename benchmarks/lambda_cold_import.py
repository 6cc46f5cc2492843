"""Cold import of each Lambda shim (the init phase), measured with `python -X importtime` in fresh processes.

Targets (issue 8): API handler <= 500 ms, agent-step handler <= 300 ms. Prints best-of-N per handler: the sum of
top-level import times while loading functions/<name>/handler.py, and the biggest contributors. The shims defer
what needs the environment to the first invocation; the "+first call" column adds the modules that call imports
(wiring, the DynamoDB/S3/Step Functions adapters, botocore, and for the API the FastAPI app), so the whole cold path
is visible, not only the part the target names.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUNS = int(os.environ.get("DEXA_BENCH_RUNS", "5"))
TARGET_MS = {"api": 500, "agent_step": 300}
_LINE = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \| (\s*)(\S+)$")


# The clients come from botocore (dexa.adapters.aws.clients): boto3 is not on a function's path.
FIRST_CALL = ["dexa.wiring", "dexa.adapters.aws.dynamo_store", "dexa.adapters.aws.s3_blobs", "botocore.session"]
FIRST_CALL_EXTRA = {"api": ["dexa.api.app"]}


def measure(handler: Path, extra: list[str] | None = None) -> tuple[float, list[tuple[float, str]]]:
    code = (
        "import runpy, sys, importlib; runpy.run_path(sys.argv[1]); [importlib.import_module(m) for m in sys.argv[2:]]"
    )
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "AWS_DEFAULT_REGION": "us-east-1"}
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code, str(handler), *(extra or [])],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        check=True,
    )
    top: list[tuple[float, str]] = []
    seen_runpy = False
    for line in out.stderr.splitlines():
        match = _LINE.match(line)
        if not match or match.group(3):
            continue
        name = match.group(4)
        if name == "runpy":
            seen_runpy = True  # everything before it is interpreter startup, not the handler
            continue
        if seen_runpy:
            top.append((int(match.group(2)) / 1000, name))
    return sum(ms for ms, _ in top), sorted(top, reverse=True)[:4]


def main() -> int:
    failed = False
    print(f"Lambda shims, best of {RUNS} fresh processes (python -X importtime):")
    for handler in sorted((ROOT / "functions").glob("*/handler.py")):
        name = handler.parent.name
        runs = [measure(handler) for _ in range(RUNS)]
        best, top = min(runs, key=lambda r: r[0])  # best of RUNS
        target = TARGET_MS.get(name)
        verdict = "" if target is None else (" ok" if best <= target else f" OVER {target} ms")
        failed = failed or (target is not None and best > target)
        biggest = ", ".join(f"{n} {ms:.0f}" for ms, n in top)
        extra = FIRST_CALL + FIRST_CALL_EXTRA.get(name, [])
        full = min(measure(handler, extra)[0] for _ in range(RUNS))
        print(f"{name:<11} cold import {best:5.0f} ms{verdict:<13} +first call {full:5.0f} ms   [{biggest}]")
    return 1 if failed and os.environ.get("DEXA_BENCH_STRICT") else 0


if __name__ == "__main__":
    sys.exit(main())
