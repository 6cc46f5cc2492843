"""The Step Functions turn driver: one Standard execution per turn, approvals through task tokens, cancel.

start    StartExecution named f"{session}-t{turn}" (a retried start returns the same execution)
approve  engine.resolve_approval(...) then SfnApprovalNotifier.notify(approval), or just driver.start(session):
         SendTaskSuccess once every approval of the wait is decided (a token is single-use; a second send is
         "already decided")
cancel   a per-turn cancel mark and the session flag (running steps poll them every 250 ms and kill their work) +
         StopExecution; a turn parked on a token is failed with "Cancelled" instead, so the machine finishes the
         turn through its own steps
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import anyio.to_thread

from dexa.core.engine import TurnEngine
from dexa.core.errors import ConfigError, ConflictError, StorageError
from dexa.core.ports import Store
from dexa.core.session import Approval, Session

from . import schema
from ._ddb import error_code

logger = logging.getLogger(__name__)

EXECUTIONS_NS = "sfn_executions"
# "{session}:{turn}" of every cancelled turn: the durable cancel a running step checks (the session's flag is
# cleared once the turn has ended). Expires with the longest a turn can run (schema.KV_TTL_SECONDS).
CANCELLED_NS = "cancelled_turns"
# A token that is already used, timed out or whose execution ended: the decision was delivered (or moot).
_TOKEN_GONE = ("InvalidToken", "TaskTimedOut", "TaskDoesNotExist")
_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def execution_name(session_id: str, turn: int, suffix: str = "") -> str:
    """f"{session}-t{turn}" made safe for Step Functions (1-80 chars of [A-Za-z0-9_-])."""
    name = _NAME_UNSAFE.sub("_", f"{session_id}-t{turn}{suffix}")
    if len(name) > 80:
        raise ConfigError(f"execution name {name!r} is longer than 80 characters; shorten the session id")
    return name


def _client(client: Any, region: str | None) -> Any:
    if client is not None:
        return client
    from .clients import LazyClient

    # Made on first use: an API container serving reads never calls Step Functions.
    return LazyClient("stepfunctions", region=region)


class SfnApprovalNotifier:
    """Completes the task token a turn is parked on, once the decisions it waits for are all in."""

    def __init__(self, store: Store, *, client: Any = None, region: str | None = None) -> None:
        self.store = store
        self._sfn = _client(client, region)

    async def notify(self, approval: Approval) -> bool:
        """Call after engine.resolve_approval. True when this call released the waiting execution."""
        return await self.release(approval.session_id)

    async def release(self, session_id: str) -> bool:
        """Send every token whose approvals are all decided, then forget it. Safe to call any time, any number of
        times: a token still held by a pending approval is kept, and a used or expired token is "already done".

        Decided approvals can no longer change (resolve is pending -> decided only), so clearing their token
        cannot race a decision.
        """
        approvals = await self.store.list_approvals(session_id)
        waiting = {a.task_token for a in approvals if a.status == "pending" and a.task_token}
        released = False
        for token in {a.task_token for a in approvals if a.status != "pending" and a.task_token} - waiting:
            released = await self.send_success(token, {"session_id": session_id}) or released
            for approval in approvals:
                if approval.task_token == token and approval.status != "pending":
                    await self.store.put_approval(replace(approval, task_token=None))
        return released

    async def send_success(self, token: str, output: Mapping[str, Any]) -> bool:
        return await self._send("send_task_success", taskToken=token, output=json.dumps(dict(output)))

    async def send_failure(self, token: str, *, error: str, cause: str = "") -> bool:
        return await self._send("send_task_failure", taskToken=token, error=error, cause=cause[:32_768])

    async def _send(self, op: str, **kwargs: Any) -> bool:
        def run() -> bool:
            try:
                getattr(self._sfn, op)(**kwargs)
            except Exception as exc:
                if error_code(exc) in _TOKEN_GONE:
                    logger.info("%s: token already used or expired (%s)", op, error_code(exc))
                    return False
                raise StorageError(f"Step Functions {op} failed: {type(exc).__name__}: {exc}") from exc
            return True

        return await anyio.to_thread.run_sync(run)

    async def fail_pending(self, session_id: str, *, error: str = "Cancelled", cause: str = "") -> int:
        """Fail every distinct token pending approvals hold (cancel while parked). Returns how many were live."""
        tokens = {a.task_token for a in await self.store.list_approvals(session_id, status="pending") if a.task_token}
        sent = 0
        for token in tokens:
            sent += await self.send_failure(token, error=error, cause=cause)
        return sent


class SfnTurnDriver:
    """Drives turns on Step Functions; interface-compatible with InProcessDriver where the API needs it."""

    def __init__(
        self, engine: TurnEngine, state_machine_arn: str, *, client: Any = None, region: str | None = None
    ) -> None:
        if not state_machine_arn:
            raise ConfigError(f"SfnTurnDriver needs the state machine ARN (set {schema.ENV_STATE_MACHINE_ARN})")
        self.engine = engine
        self.state_machine_arn = state_machine_arn
        self._sfn = _client(client, region)
        self.approvals = SfnApprovalNotifier(engine.store, client=self._sfn)
        self._tasks: dict[str, asyncio.Task[str]] = {}

    @classmethod
    def from_env(cls, engine: TurnEngine, env: Mapping[str, str], *, client: Any = None) -> SfnTurnDriver:
        return cls(
            engine,
            env.get(schema.ENV_STATE_MACHINE_ARN, ""),
            client=client,
            region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION"),
        )

    async def start_turn(self, session_id: str, *, suffix: str = "", calls_base: int = 0) -> str:
        """Start (or find) the execution for the session's current turn; returns its ARN.

        A retried call with the same turn gets the same execution. A turn whose execution already ended (a
        resume after a failure) gets a fresh one named ...-r1, -r2, ...

        Raises:
            ConflictError: the session has no turn in flight (call engine.submit first).
        """
        # A decision the API just recorded resumes the parked execution; the start below then finds it running.
        await self.approvals.release(session_id)
        session = await self.engine.store.get_session(session_id)
        if session.turn_state is None:
            raise ConflictError(f"session {session_id} has no turn to run")
        turn = session.turn_state.turn
        trace = session.turn_state.trace  # "" with tracing off: the field is always there (asl.py reads it)
        payload = json.dumps(
            {"session_id": session_id, "turn": turn, "calls_base": calls_base, "traceparent": trace}, sort_keys=True
        )

        def run() -> tuple[str, str]:
            for attempt in range(50):
                name = execution_name(session_id, turn, suffix + (f"-r{attempt}" if attempt else ""))
                try:
                    out = self._sfn.start_execution(stateMachineArn=self.state_machine_arn, name=name, input=payload)
                except Exception as exc:
                    if error_code(exc) != "ExecutionAlreadyExists":
                        raise StorageError(f"StartExecution {name} failed: {type(exc).__name__}: {exc}") from exc
                    existing = self.execution_arn(name)
                    if self._sfn.describe_execution(executionArn=existing)["status"] == "RUNNING":
                        return existing, name  # never two executions for one turn
                    continue
                return out["executionArn"], name
            raise ConflictError(f"too many executions for {session_id} turn {turn}")

        arn, name = await anyio.to_thread.run_sync(run)
        await self.engine.store.kv_put(EXECUTIONS_NS, session_id, {"arn": arn, "name": name, "turn": turn})
        logger.info("started execution %s for session %s turn %s", name, session_id, turn)
        return arn

    def execution_arn(self, name: str) -> str:
        return self.state_machine_arn.replace(":stateMachine:", ":execution:", 1) + ":" + name

    def start(self, session_id: str) -> asyncio.Task[str]:
        """InProcessDriver-compatible: begin driving in the background; the task resolves to the execution ARN."""
        task = asyncio.create_task(self.start_turn(session_id), name=f"dexa-sfn-start-{session_id}")
        self._tasks[session_id] = task
        task.add_done_callback(
            lambda t: self._tasks.pop(session_id, None) if self._tasks.get(session_id) is t else None
        )
        return task

    async def drain(self) -> None:
        """Finish pending start() calls. Lambda freezes the process after a response; the API shim calls this so a
        StartExecution scheduled by a request is never left frozen in the event loop."""
        while pending := [t for t in self._tasks.values() if not t.done()]:
            await asyncio.gather(*pending, return_exceptions=True)

    def is_running(self, session_id: str) -> bool:
        task = self._tasks.get(session_id)
        return task is not None and not task.done()

    async def execution(self, session_id: str) -> dict[str, Any] | None:
        """DescribeExecution of the session's latest execution (status, error, cause), or None."""
        doc = await self.engine.store.kv_get(EXECUTIONS_NS, session_id)
        if not doc:
            return None
        return await anyio.to_thread.run_sync(lambda: self._sfn.describe_execution(executionArn=doc["arn"]))

    async def cancel(self, session_id: str) -> None:
        session = await self.engine.store.get_session(session_id)
        if session.turn_state is not None:  # first, so a step that misses the flag still finds the turn cancelled
            await self.engine.store.kv_put(CANCELLED_NS, f"{session_id}:{session.turn_state.turn}", {"at": time.time()})
        await self.engine.request_cancel(session_id)
        if await self.approvals.fail_pending(session_id, error="Cancelled", cause="cancelled by user"):
            return  # the machine resumes, sees the flag and ends the turn as cancelled itself
        doc = await self.engine.store.kv_get(EXECUTIONS_NS, session_id)
        if doc:

            def stop() -> None:
                try:
                    self._sfn.stop_execution(executionArn=doc["arn"], error="Cancelled", cause="cancelled by user")
                except Exception as exc:
                    if error_code(exc) not in ("ExecutionDoesNotExist",):
                        raise StorageError(f"StopExecution failed: {type(exc).__name__}: {exc}") from exc

            await anyio.to_thread.run_sync(stop)
        session = await self.engine.store.get_session(session_id)
        if session.turn_state is not None:
            await self.engine.finish_cancelled(session_id)

    async def wait(self, session_id: str, *, timeout_s: float = 900.0, poll_s: float = 0.5) -> Session:
        """Poll until the session's execution is no longer RUNNING (CLI and local runs)."""
        with anyio.fail_after(timeout_s):
            while True:
                info = await self.execution(session_id)
                if info is None or info["status"] != "RUNNING":
                    return await self.engine.store.get_session(session_id)
                await asyncio.sleep(poll_s)

    async def aclose(self) -> None:
        for task in list(self._tasks.values()):
            task.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)
