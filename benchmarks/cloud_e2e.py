"""Cloud e2e benchmark: the deployed stack emulated on this machine (tests/cloud_e2e), one typical turn measured.

    .venv/bin/python benchmarks/cloud_e2e.py [--turns 3]

A typical turn (issue 14): 10 tool calls over 4 model replies, 1 approval. Prints, per turn: AWS requests by
service/action, Step Functions state transitions, DynamoDB write requests (and write units), Lambda invocations
and GB-seconds, a dollar estimate at us-east-1 list prices; over all turns: the warm per-step overhead p50/p95, the
Lambda time per task, and cold-start init (interpreter + handler import, to the first Runtime API poll) per function.

Per-step overhead (issue 14 item 4: "non-model, non-tool overhead per step, warm"): the step Lambda logs one
`step_timing` line per engine step (tasks.TaskRunner). A step's overhead is the time from the end of the step before
it (or the turn's start, or the approval decision after a park) to its own end, minus the model's time (the
message's duration_ms) and the tools' time (tool.started -> tool.completed) inside it. So it counts what a user
waits for between steps: state transitions, Lambda invokes, store round trips, environment set-up. Steps of a cold
container are left out. Targets: <= 150 ms p50 warm; cold start API <= 500 ms, step <= 800 ms.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from cloud_e2e.client import ApiClient  # pyright: ignore[reportMissingImports] - tests/ is put on sys.path above
from cloud_e2e.harness import Cloud, running  # pyright: ignore[reportMissingImports]
from cloud_e2e.overhead import (  # pyright: ignore[reportMissingImports]
    percentile,
    step_overheads,
    step_timings,
    stored_events,
)
from cloud_e2e.synth import synthesize  # pyright: ignore[reportMissingImports]

# us-east-1 list prices (USD), for an order of magnitude only.
PRICE = {
    "sfn_transition": 0.025 / 1000,
    "lambda_request": 0.20 / 1_000_000,
    "lambda_gb_s_arm": 0.0000133334,
    "ddb_write_unit": 1.25 / 1_000_000,
    "ddb_read_unit": 0.25 / 1_000_000,
    "apigw_request": 3.50 / 1_000_000,
}
# Requests the harness itself makes (the EventBridge relay polls executions and rules every 0.5 s; this benchmark
# reads the execution history): counted apart, they are no part of a deployment's bill.
HARNESS_REQUESTS = (
    "states:ListStateMachines",
    "states:ListExecutions",
    "events:ListRules",
    "states:GetExecutionHistory",
)
DDB_WRITES = ("PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem")
DDB_READS = ("GetItem", "Query", "Scan", "BatchGetItem", "TransactGetItems")


def run_turn(cloud: Cloud, admin: ApiClient) -> dict[str, Any]:
    cloud.aws_requests(reset=True)
    records_before = len(cloud.emulator.stats.records)
    api_before = cloud.api.requests
    started = time.monotonic()
    sid = admin.create_session("[script:typical_turn] look, write, check")["id"]
    admin.watch(sid, until="permission.required", timeout=180)
    pending = [a for a in admin.ok("GET", f"/sessions/{sid}/approvals")["data"] if a["status"] == "pending"]
    admin.ok("POST", f"/sessions/{sid}/approve", json={"approval_id": pending[0]["id"], "decision": "once"})
    events = admin.watch(sid, until="turn.completed", timeout=180)
    wall = time.monotonic() - started
    sfn = cloud.client("stepfunctions")
    (execution,) = [
        e for e in sfn.list_executions(stateMachineArn=cloud.state_machine_arn)["executions"] if sid in e["name"]
    ]
    while execution["status"] == "RUNNING":
        time.sleep(0.2)
        execution = sfn.describe_execution(executionArn=execution["executionArn"])
    history = sfn.get_execution_history(executionArn=execution["executionArn"], maxResults=1000)["events"]
    everything = Counter(cloud.aws_requests())
    requests = Counter({k: v for k, v in everything.items() if k not in HARNESS_REQUESTS})
    harness = sum(v for k, v in everything.items() if k in HARNESS_REQUESTS)
    stored = stored_events(cloud, sid)
    timings = [t for t in step_timings(cloud) if t["session_id"] == sid]
    return {
        "steps": step_overheads(timings, stored),
        "timings": timings,
        "deltas": sum(1 for e in stored if e["type"] in ("message.delta", "message.thinking_delta")),
        "session": sid,
        "wall_s": wall,
        "events": len(events),
        "tools": sum(1 for e in events if e.type == "tool.completed"),
        "transitions": sum(1 for e in history if e["type"].endswith("StateEntered")),
        "requests": requests,
        "harness_requests": harness,
        "records": cloud.emulator.stats.records[records_before:],
        "api_requests": cloud.api.requests - api_before,
    }


def report(turn: dict[str, Any], memory_mb: dict[str, int]) -> None:
    req: Counter[str] = turn["requests"]
    ddb_w = {k: v for k, v in req.items() if k.startswith("dynamodb:") and k.split(":")[1] in DDB_WRITES}
    ddb_r = sum(v for k, v in req.items() if k.startswith("dynamodb:") and k.split(":")[1] in DDB_READS)
    # A transaction writes >= 2 items at 2 units each; count it as 4 units (lower bound).
    write_units = sum(v * (4 if k.endswith("TransactWriteItems") else 1) for k, v in ddb_w.items())
    gb_s = sum(sec * memory_mb.get(fn, 1024) / 1024 for fn, _cold, sec, _task in turn["records"])
    invocations = len(turn["records"])
    cost = (
        turn["transitions"] * PRICE["sfn_transition"]
        + invocations * PRICE["lambda_request"]
        + gb_s * PRICE["lambda_gb_s_arm"]
        + write_units * PRICE["ddb_write_unit"]
        + ddb_r * PRICE["ddb_read_unit"]
        + turn["api_requests"] * PRICE["apigw_request"]
    )
    print(f"  turn {turn['session']}: {turn['wall_s']:.1f} s wall, {turn['tools']} tools, {turn['events']} events")
    print(f"    AWS requests {sum(req.values())} (+{turn['harness_requests']} by the harness): "
          + ", ".join(f"{k} {v}" for k, v in req.most_common(12)))  # fmt: skip
    print(f"    state transitions {turn['transitions']}; DynamoDB write requests {sum(ddb_w.values())} "
          f"(~{write_units} write units), read requests {ddb_r}")  # fmt: skip
    print(f"    engine steps {len(turn['steps'])}; delta events stored {turn['deltas']}")
    print(f"    Lambda invocations {invocations}, {gb_s:.1f} GB-s; API requests {turn['api_requests']}; "
          f"estimate ${cost:.5f} per turn (${cost * 1000:.2f} per 1000 turns)")  # fmt: skip


def store_round_trips(timings: list[dict[str, Any]]) -> None:
    """DynamoDB calls per warm engine step (the step_timing lines count them), by step and by operation."""
    polls = [float(t.get("ddb_polls", 0)) for t in timings]
    calls = [float(t.get("ddb_calls", 0)) - p for t, p in zip(timings, polls, strict=True)]
    if not calls:
        return
    ms = [float(t.get("ddb_ms", 0)) for t in timings]
    ops: Counter[str] = Counter()
    for t in timings:
        ops.update(t.get("ddb_ops") or {})
    print(f"  DynamoDB round trips per warm step (+{statistics.mean(polls):.1f} cancel-watch polls): "
          f"mean {statistics.mean(calls):.1f}, p50 {percentile(calls, 0.5):.0f}, "
          f"max {max(calls):.0f}; time in them p50 {percentile(ms, 0.5):.0f} ms; "
          + ", ".join(f"{op} {n / len(timings):.1f}" for op, n in ops.most_common()))  # fmt: skip
    by_step: dict[str, list[float]] = {}
    for t, c in zip(timings, calls, strict=True):
        by_step.setdefault(str(t["step"]), []).append(c)
    for step, values in sorted(by_step.items()):
        print(f"    {step:<16} n={len(values):<3} round trips mean {statistics.mean(values):.1f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--turns", type=int, default=3)
    parser.add_argument("--trace", action="store_true", help="log every DynamoDB call of the step Lambda")
    args = parser.parse_args()
    started = time.monotonic()
    cdk_out = synthesize()
    print(f"cloud e2e benchmark (synth {time.monotonic() - started:.1f} s)")
    with running(cdk_out) as cloud:
        if args.trace:  # containers start on first use, so the variable reaches every one
            cloud.emulator.sdk_env["DEXA_DDB_TRACE"] = "1"
        boot = cloud.bootstrap()
        admin = ApiClient(cloud.api.url, boot["token"], boot.get("gateway_key"))
        lam = cloud.client("lambda")
        memory = {
            fn: lam.get_function_configuration(FunctionName=fn)["MemorySize"] for fn in cloud.deployment.function_code
        }
        turns = [run_turn(cloud, admin) for _ in range(args.turns)]
        for turn in turns:
            report(turn, memory)
        overheads = [sec for t in turns[1:] or turns for _step, sec, cold in t["steps"] if not cold]
        p50, p95 = percentile(overheads, 0.5) * 1000, percentile(overheads, 0.95) * 1000
        print(f"  warm per-step overhead: p50 {p50:.0f} ms, p95 {p95:.0f} ms over {len(overheads)} steps "
              "(target <= 150 ms p50)")  # fmt: skip
        per_step: dict[str, list[float]] = {}
        for t in turns[1:] or turns:
            for step, sec, cold in t["steps"]:
                if not cold:
                    per_step.setdefault(step, []).append(sec)
        for step, secs in sorted(per_step.items()):
            print(f"    {step:<16} n={len(secs):<3} overhead p50 {percentile(secs, 0.5) * 1000:.0f} ms")
        store_round_trips([t for turn in turns[1:] or turns for t in turn["timings"] if not t["cold"]])
        steps = [(sec, task) for t in turns[1:] or turns for fn, cold, sec, task in t["records"] if task and not cold]
        by_task: dict[str, list[float]] = {}
        for sec, task in steps:
            by_task.setdefault(task, []).append(sec)
        warm = [sec for sec, _ in steps]
        p50, p95 = percentile(warm, 0.5) * 1000, percentile(warm, 0.95) * 1000
        print(f"  warm step-Lambda invocations: p50 {p50:.0f} ms, p95 {p95:.0f} ms over {len(warm)}")
        for task, secs in sorted(by_task.items()):
            print(f"    {task:<16} n={len(secs):<3} p50 {percentile(secs, 0.5) * 1000:.0f} ms")
        for fn, inits in cloud.emulator.stats.init_seconds.items():
            kind = fn.split("-")[1] if "-" in fn else fn
            median = statistics.median(inits) * 1000
            print(f"  cold start {kind:<24} init (python + import) median {median:.0f} ms, {len(inits)} container(s)")
        cold_first = [sec for t in turns for fn, cold, sec, task in t["records"] if cold]
        if cold_first:
            median = statistics.median(cold_first)
            print(f"  cold invocations (init + first request, runtime build included): median {median:.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
