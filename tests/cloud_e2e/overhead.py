"""Warm per-step overhead of a turn run through the emulated deployment (issue 14 item 4), measured from outside.

The step Lambda logs one `step_timing` line per engine step (tasks.TaskRunner: start, end, store round trips). A
step's overhead is the time from the end of the step before it (or the turn's start, or the approval decision after
a park) to its own end, minus the model's time (the message's duration_ms) and the tools' time (tool.started ->
tool.completed) inside it: what a user waits for between steps (state transitions, Lambda invokes, store round
trips, environment set-up). Used by benchmarks/cloud_e2e.py and the suite's overhead check.
"""

from __future__ import annotations

import json
from typing import Any

from .harness import Cloud


def step_timings(cloud: Cloud) -> list[dict[str, Any]]:
    """Every `step_timing` line the step Lambda logged so far: {session_id, step, start, end, ms, cold}."""
    out: list[dict[str, Any]] = []
    for path in sorted(cloud.log_dir.glob("lambda-*AgentStep*.log")):
        for line in path.read_text(errors="replace").splitlines():
            if '"step_timing"' not in line:
                continue
            try:
                doc = json.loads(line)
            except ValueError:
                continue
            timing = doc.get("step_timing")
            if isinstance(timing, dict):
                out.append({**timing, "session_id": doc.get("session_id"), "cold": bool(doc.get("cold_start"))})
    return out


def stored_events(cloud: Cloud, sid: str) -> list[dict[str, Any]]:
    """The session's event log as stored (type, ts, data), read from the deployed table."""
    ddb = cloud.client("dynamodb")
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {
        "TableName": cloud.table,
        "KeyConditionExpression": "PK = :pk AND begins_with(SK, :evt)",
        "ExpressionAttributeValues": {":pk": {"S": f"SESSION#{sid}"}, ":evt": {"S": "EVT#"}},
    }
    while True:
        page = ddb.query(**kwargs)
        items += page["Items"]
        if "LastEvaluatedKey" not in page:
            break
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    out = []
    for item in items:
        data = json.loads(item["data"]["S"]) if "data" in item else {}
        out.append({"type": item["type"]["S"], "ts": float(item["ts"]["N"]), "data": data})
    return sorted(out, key=lambda e: e["ts"])


def _busy(intervals: list[tuple[float, float]], lo: float, hi: float) -> float:
    """Seconds of [lo, hi] covered by the union of intervals (parallel tools count once)."""
    clipped = sorted((max(a, lo), min(b, hi)) for a, b in intervals if min(b, hi) > max(a, lo))
    total, end = 0.0, lo
    for a, b in clipped:
        if b > end:
            total += b - max(a, end)
            end = b
    return total


def step_overheads(timings: list[dict[str, Any]], events: list[dict[str, Any]]) -> list[tuple[str, float, bool]]:
    """(step, overhead seconds, cold) for each step of one turn, as the module docstring defines it."""
    started = [e["ts"] for e in events if e["type"] == "turn.started"]
    decisions = [e["ts"] for e in events if e["type"] == "permission.resolved"]
    model = [
        (e["ts"], float(e["data"].get("duration_ms") or 0) / 1000) for e in events if e["type"] == "message.assistant"
    ]
    opened: dict[str, float] = {}
    tools: list[tuple[float, float]] = []
    for e in events:
        tid = e["data"].get("tool_use_id")
        if e["type"] == "tool.started" and tid:
            opened[tid] = e["ts"]
        elif e["type"] == "tool.completed" and tid in opened:
            tools.append((opened.pop(tid), e["ts"]))
    out: list[tuple[str, float, bool]] = []
    anchor = started[0] if started else None
    for t in sorted(timings, key=lambda t: t["start"]):
        lo = anchor if anchor is not None else t["start"]
        # After a park, the wait for a human is not overhead: count from the decision.
        lo = max([lo, *(d for d in decisions if lo <= d <= t["end"])])
        spent = t["end"] - lo
        spent -= sum(dur for ts, dur in model if lo <= ts <= t["end"])
        spent -= _busy(tools, lo, t["end"])
        out.append((t["step"], max(0.0, spent), t["cold"]))
        anchor = t["end"]
    return out


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else float("nan")
