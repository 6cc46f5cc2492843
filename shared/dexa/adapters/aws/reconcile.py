"""Sessions whose turn execution died outside the machine's own Catch end as an error, not `running` forever.

A turn's execution can end without its steps recording it: a timeout of the whole execution, a StopExecution from
the console, a `States.Runtime` error (no Catch sees it), a failure inside RecordFailure itself. EventBridge
delivers "Step Functions Execution Status Change" for FAILED, TIMED_OUT and ABORTED to the reconciler Lambda,
which ends the session's turn as failed (error event, turn.failed, session idle with status "failed"). A sweep
over the machine's recent failed executions catches events that were never delivered.

It only ever ends the turn the execution was running, and only while that execution is still the session's
current one: a resumed (-r1) or continued (-c150) execution of the same turn is left alone, and a turn that
already ended (finished, recorded failure, cancelled) is not touched.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import anyio.to_thread

from dexa.core.engine import TurnEngine
from dexa.core.errors import NotFoundError

from . import schema
from .sfn import CANCELLED_NS, EXECUTIONS_NS

logger = logging.getLogger(__name__)

DEAD = schema.DEAD_EXECUTION_STATUSES
STATUS_CHANGE = schema.EXECUTION_STATUS_CHANGE
# Sessions in these states still expect their execution to move them on.
_IN_FLIGHT = ("running", "waiting", "paused")


@dataclass(frozen=True, slots=True)
class Outcome:
    execution_arn: str
    session_id: str
    action: str  # "failed" (the turn was ended here) or why nothing was done

    def to_dict(self) -> dict[str, str]:
        return {"execution_arn": self.execution_arn, "session_id": self.session_id, "action": self.action}


class Reconciler:
    def __init__(self, engine: TurnEngine, sfn_client: Any, state_machine_arn: str) -> None:
        self.engine = engine
        self.store = engine.store
        self._sfn = sfn_client
        self.state_machine_arn = state_machine_arn

    async def handle(self, event: Mapping[str, Any]) -> dict[str, Any]:
        """The Lambda entry: an EventBridge status change, or anything else (a schedule, {"sweep": true}) sweeps."""
        if event.get("detail-type") == STATUS_CHANGE:
            return (await self.on_status_change(event.get("detail") or {})).to_dict()
        return {"reconciled": [o.to_dict() for o in await self.sweep(within_s=float(event.get("within_s", 86_400)))]}

    async def on_status_change(self, detail: Mapping[str, Any]) -> Outcome:
        arn = str(detail.get("executionArn", ""))
        status = str(detail.get("status", ""))
        if status not in DEAD:
            return Outcome(arn, "", f"ignored: status {status}")
        if detail.get("stateMachineArn") and detail["stateMachineArn"] != self.state_machine_arn:
            return Outcome(arn, "", "ignored: another state machine")
        try:
            payload = json.loads(detail.get("input") or "{}")
        except ValueError:
            payload = {}
        if not payload.get("session_id"):  # the event's input can be left out: ask Step Functions
            payload = await self._input(arn)
        return await self.reconcile(
            arn,
            status=status,
            session_id=str(payload.get("session_id", "")),
            turn=int(payload.get("turn") or 0),
            error=str(detail.get("error") or ""),
            cause=str(detail.get("cause") or ""),
        )

    async def reconcile(
        self, arn: str, *, status: str, session_id: str, turn: int, error: str = "", cause: str = ""
    ) -> Outcome:
        if not session_id or turn <= 0:
            return Outcome(arn, session_id, "ignored: the execution input names no session turn")
        try:
            session = await self.store.get_session(session_id)
        except NotFoundError:
            return Outcome(arn, session_id, "ignored: the session no longer exists")
        state = session.turn_state
        if state is None or state.turn != turn or session.status not in _IN_FLIGHT:
            return Outcome(arn, session_id, "ignored: the turn already ended")
        current = await self.store.kv_get(EXECUTIONS_NS, session_id)
        if current and current.get("arn") and current["arn"] != arn:
            return Outcome(arn, session_id, "ignored: a newer execution drives this turn")
        message = f"the turn's execution {status.lower().replace('_', ' ')}"
        if error or cause:
            message += f": {error}" + (f": {cause[:2000]}" if cause else "")
        logger.warning("reconciling session %s turn %s: %s", session_id, turn, message)
        # A step may still be running (StopExecution does not stop a Lambda): the mark makes it kill its work.
        await self.store.kv_put(CANCELLED_NS, f"{session_id}:{turn}", {"at": time.time(), "by": "reconciler"})
        await self.engine.interrupt_running_tools(session_id)
        await self.engine.fail_turn(
            session_id, subtype="error_during_execution", error=message, code=f"execution_{status.lower()}"
        )
        return Outcome(arn, session_id, "failed")

    async def sweep(self, *, within_s: float = 86_400, page_limit: int = 10) -> list[Outcome]:
        """Reconcile every dead execution of the machine that stopped in the last `within_s` seconds."""
        since = time.time() - within_s
        outcomes: list[Outcome] = []
        for status in DEAD:
            for execution in await self._list(status, since, page_limit):
                arn = execution["executionArn"]
                payload = await self._input(arn)
                info = await self._describe(arn)
                outcomes.append(
                    await self.reconcile(
                        arn,
                        status=status,
                        session_id=str(payload.get("session_id", "")),
                        turn=int(payload.get("turn") or 0),
                        error=str(info.get("error") or ""),
                        cause=str(info.get("cause") or ""),
                    )
                )
        return outcomes

    async def _list(self, status: str, since: float, page_limit: int) -> list[dict[str, Any]]:
        def run() -> list[dict[str, Any]]:
            found: list[dict[str, Any]] = []
            kwargs: dict[str, Any] = {"stateMachineArn": self.state_machine_arn, "statusFilter": status}
            for _ in range(page_limit):  # newest first: stop at the first page that reaches past the window
                out = self._sfn.list_executions(maxResults=100, **kwargs)
                page = out.get("executions", [])
                recent = [e for e in page if _stamp(e.get("stopDate")) >= since]
                found += recent
                if len(recent) < len(page) or not out.get("nextToken"):
                    break
                kwargs["nextToken"] = out["nextToken"]
            return found

        return await anyio.to_thread.run_sync(run)

    async def _describe(self, arn: str) -> dict[str, Any]:
        return await anyio.to_thread.run_sync(lambda: self._sfn.describe_execution(executionArn=arn))

    async def _input(self, arn: str) -> dict[str, Any]:
        info = await self._describe(arn)
        try:
            return dict(json.loads(info.get("input") or "{}"))
        except ValueError:
            return {}


def _stamp(value: Any) -> float:
    if value is None:
        return time.time()  # still stopping: count it as recent
    timestamp = getattr(value, "timestamp", None)  # boto3 gives datetimes
    return float(timestamp()) if callable(timestamp) else float(value)  # pyright: ignore[reportArgumentType]
