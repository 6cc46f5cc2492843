"""EventBridge's "Step Functions Execution Status Change" events, which moto never emits, delivered to the rules.

Watches the state machines' executions in moto; when one reaches a terminal status, builds the event AWS would put
on the default bus and, for every enabled rule whose pattern matches (source, detail-type, detail fields), invokes
each Lambda target asynchronously with that event (or the target's constant Input), as EventBridge does.
Scheduled rules (`rate(...)`) are not fired here.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from typing import Any

from .provision import ACCOUNT, REGION

TERMINAL = ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")


def matches(pattern: Any, event: Any) -> bool:
    if isinstance(pattern, dict):
        return isinstance(event, dict) and all(k in event and matches(v, event[k]) for k, v in pattern.items())
    if isinstance(pattern, list):
        return any(matches(p, event) if isinstance(p, dict) else p == event for p in pattern)
    return pattern == event


class EventsRelay:
    def __init__(self, *, sfn: Any, events: Any, lambda_client: Any, interval: float = 0.5) -> None:
        self.sfn, self.events, self.lambda_client = sfn, events, lambda_client
        self.interval = interval
        self.delivered: list[dict[str, Any]] = []
        self._seen: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="events-relay", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.poll()
            except Exception:  # a moto hiccup: try again next round
                continue

    def poll(self) -> None:
        rules = [
            (r, json.loads(r["EventPattern"]))
            for r in self.events.list_rules()["Rules"]
            if r.get("EventPattern") and r.get("State") == "ENABLED"
        ]
        for machine in self.sfn.list_state_machines()["stateMachines"]:
            for execution in self.sfn.list_executions(stateMachineArn=machine["stateMachineArn"])["executions"]:
                arn = execution["executionArn"]
                if execution["status"] not in TERMINAL or arn in self._seen:
                    continue
                self._seen.add(arn)
                self._deliver(self._event(arn), rules)

    def _event(self, arn: str) -> dict[str, Any]:
        d = self.sfn.describe_execution(executionArn=arn)
        stamp = (d.get("stopDate") or d["startDate"]).strftime("%Y-%m-%dT%H:%M:%SZ")
        return {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "Step Functions Execution Status Change",
            "source": "aws.states",
            "account": ACCOUNT,
            "time": stamp,
            "region": REGION,
            "resources": [arn],
            "detail": {
                "executionArn": arn,
                "stateMachineArn": d["stateMachineArn"],
                "name": d["name"],
                "status": d["status"],
                "startDate": int(d["startDate"].timestamp() * 1000),
                "stopDate": int(d["stopDate"].timestamp() * 1000) if d.get("stopDate") else None,
                "input": d.get("input"),
                "output": d.get("output"),
                "error": d.get("error"),
                "cause": d.get("cause"),
            },
        }

    def _deliver(self, event: dict[str, Any], rules: list[tuple[dict[str, Any], Any]]) -> None:
        for rule, pattern in rules:
            if not matches(pattern, event):
                continue
            for target in self.events.list_targets_by_rule(Rule=rule["Name"])["Targets"]:
                if ":lambda:" not in target["Arn"]:
                    continue
                payload = target.get("Input") or json.dumps(event)
                self.lambda_client.invoke(FunctionName=target["Arn"], InvocationType="Event", Payload=payload.encode())
                self.delivered.append({"rule": rule["Name"], "event": event, "at": time.time()})

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
