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

importtime does not log the own time of a module imported with importlib.import_module (several lazily loaded Dexa
packages are), and the import replay leaves out what the first invocation does besides importing (building the
runtime, FastAPI's route state, pydantic schemas, botocore clients, the request itself). So the API function is also
replayed whole, in a fresh interpreter per run: awslambdaric's bootstrap and the handler module imported, then the
container's first authorizer event and its first request answered through the handler, against the running stack
(moto). A request that is not a GET is replayed as a GET of its path (the same router, app and runtime are built;
the replay starts no second turn), so a POST /sessions' StartExecution client is not in it: tests/integration/aws/
test_api_cold_path.py prints nothing but serves a real POST /sessions. Both figures are printed; the whole one is
what is compared with the target.
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


# Replays one API container whole: its init (bootstrap + handler import) and first invocations, CPU ms each.
WHOLE = """
import json, sys, time
code, layer, runtime, handler_path, events = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], json.loads(sys.argv[5])
sys.path[:0] = [code, layer + "/python", runtime]
cpu = time.process_time()
import importlib
import awslambdaric.bootstrap
module, _, attr = handler_path.rpartition(".")
handler = getattr(__import__(module, fromlist=[attr]), attr)
out = [(time.process_time() - cpu) * 1000]

class Context:
    function_name, function_version, memory_limit_in_mb, aws_request_id = "api", "$LATEST", 1024, "replay"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:api"
    log_group_name, log_stream_name = "/aws/lambda/api", "replay"
    def get_remaining_time_in_millis(self):
        return 29_000

statuses = []
for event in events:
    cpu = time.process_time()
    answer = handler(event, Context())
    out.append((time.process_time() - cpu) * 1000)
    statuses.append(answer.get("statusCode") if isinstance(answer, dict) else None)
print(json.dumps({"cpu": out, "statuses": statuses, "modules": len(sys.modules)}))
"""


def as_get(event: dict[str, Any]) -> dict[str, Any]:
    """A REST proxy event as a GET of the same path: the same router, app and runtime, and no side effect."""
    event = json.loads(json.dumps(event))
    if event.get("httpMethod") not in (None, "GET"):
        event.update(httpMethod="GET", body=None, isBase64Encoded=False)
        event.setdefault("requestContext", {})["httpMethod"] = "GET"
    return event


def replay_whole(cloud: Any, function: str, events: list[dict[str, Any]], runs: int) -> tuple[list[float], int]:
    """Best-of-`runs` CPU ms of [init, each event] through the function's handler in fresh interpreters, and the
    modules loaded at the end."""
    config = cloud.emulator.config(function)
    layer = cloud.emulator.merged_layers(config.layer_dirs)
    key, secret, token = cloud.emulator.credentials
    env = {**config.env, "AWS_LAMBDA_FUNCTION_NAME": function, "AWS_REGION": "us-east-1", "HOME": "/nonexistent"}
    env |= {"AWS_DEFAULT_REGION": "us-east-1", "LAMBDA_TASK_ROOT": str(config.code_dir), "PATH": os.environ["PATH"]}
    env |= {"AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret, "AWS_SESSION_TOKEN": token}
    env |= {"AWS_ENDPOINT_URL": cloud.emulator.aws_endpoint}
    best: list[float] | None = None
    modules = 0
    for _ in range(runs):
        argv = [sys.executable, "-S", "-c", WHOLE, str(config.code_dir), str(layer), str(cloud.emulator.runtime_dir)]
        with tempfile.TemporaryDirectory(prefix="dexa-replay-home-") as home:
            result = subprocess.run(
                [*argv, config.handler, json.dumps(events)],
                capture_output=True,
                text=True,
                env={**env, "DEXA_HOME": home},
                check=False,
            )
        if result.returncode != 0:
            raise RuntimeError(f"whole replay of {function} failed:\n{result.stderr[-3000:]}")
        measured = json.loads(result.stdout.splitlines()[-1])
        if any(status is not None and status >= 400 for status in measured["statuses"]):
            raise RuntimeError(f"whole replay of {function} answered {measured['statuses']}:\n{result.stderr[-3000:]}")
        modules = measured["modules"]
        best = measured["cpu"] if best is None or sum(measured["cpu"]) < sum(best) else best
    assert best is not None
    return best, modules


def label_of(event: dict[str, Any]) -> str:
    return "authorizer" if event.get("type") else f"{event.get('httpMethod')} {event.get('path')}"


def first_events(payloads: list[bytes]) -> list[dict[str, Any]]:
    """An API container's first authorizer event and its first request (as a GET), in the order they came."""
    found: dict[str, dict[str, Any]] = {}
    for raw in payloads:
        event = json.loads(raw)
        kind = "authorizer" if event.get("type") in ("REQUEST", "TOKEN") and "methodArn" in event else "request"
        if kind not in found and (kind == "authorizer" or "httpMethod" in event):
            found[kind] = event if kind == "authorizer" else as_get(event)
    return [found[k] for k in ("authorizer", "request") if k in found]


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
        payloads: dict[str, list[bytes]] = {}
        invoke = cloud.emulator.invoke

        def recording(name: str, payload: bytes, inv: Any = None) -> Any:
            if len(payloads.setdefault(name, [])) < 20:
                payloads[name].append(payload)
            return invoke(name, payload, inv)

        cloud.emulator.invoke = recording  # the first events each function got, for the whole replay
        boot = cloud.bootstrap()
        admin = ApiClient(cloud.api.url, boot["token"], boot.get("gateway_key"))
        sid = admin.create_session(f"[script:{args.script}] cold start")["id"]
        admin.watch(sid, until="turn.completed", timeout=240)
        print("cold start inside the emulated Lambda (python -X importtime, the synthesized layer at /opt):")
        failed = False
        whole_done: set[str] = set()
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
            if kind == "Api" and function not in whole_done and first_events(payloads.get(function, [])):
                whole_done.add(function)
                events = first_events(payloads[function])
                whole, whole_modules = replay_whole(cloud, function, events, args.replays)
                over = target is not None and sum(whole) > target
                failed = failed or over
                labels = ["init", *(label_of(e) for e in events)]
                steps = " + ".join(f"{label} {ms:4.0f} ms" for label, ms in zip(labels, whole, strict=True))
                verdict = f" OVER {target}" if over else " ok"
                print(
                    f"  {'':<10} {'whole handler, CPU, best of ' + str(args.replays):<48} {steps} = "
                    f"{sum(whole):5.0f} ms{verdict}; {whole_modules} modules; load {os.getloadavg()[0]:.1f}"
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
