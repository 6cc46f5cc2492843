"""Step Functions task bodies: one per state of the turn machine (asl.py), each a thin call into the engine.

Every task takes the tiny state {task, session_id, turn, calls_base, ...} and returns {outcome, step, parallel,
execution_calls, history}. A task that finds the turn already past its step (a retry after a crash, a duplicate
delivery) does nothing and reports where the turn is, so the machine routes on. Errors propagate: their class name
becomes the Lambda errorType that Retry/Catch match (dexa.core.errors).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from dexa.core import tracing
from dexa.core.engine import TurnEngine
from dexa.core.errors import ConfigError, ModelError, ModelRateLimitError, ModelUnavailableError
from dexa.core.events import EventType
from dexa.core.session import TERMINAL_TOOL_STATUSES, Session

from . import schema
from ._ddb import CallStats, current_work, track, untrack
from .asl import HISTORY_BUDGET, HISTORY_COST
from .chain import StepBudget, quick_tools
from .sfn import CANCELLED_NS, SfnApprovalNotifier, SfnTurnDriver

logger = logging.getLogger(__name__)

T = TypeVar("T")
_RETRYABLE_MODEL: dict[str, type[ModelError]] = {
    ModelRateLimitError.code: ModelRateLimitError,
    ModelUnavailableError.code: ModelUnavailableError,
}
# How often a running step checks whether its turn was cancelled or ended: the bound on how long a cancelled tool
# keeps running (one consistent GetItem per check).
CANCEL_POLL_S = 0.25
# How often a chain of steps asks whether its execution still runs (StopExecution by an operator or the reconciler
# sets no flag on the session): at most one DescribeExecution per this many seconds of chaining.
EXECUTION_CHECK_S = 2.0
_STEP_TASKS = ("begin_turn", "call_model", "decide_tools", "await_approval", "run_tools", "end_turn")
_local = threading.local()
# This invocation's step budget: set per dispatch (concurrent in-process invocations each have their own context).
_budget: contextvars.ContextVar[StepBudget | None] = contextvars.ContextVar("dexa_step_budget", default=None)


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskEvent:
    task: str
    session_id: str
    turn: int
    tool_use_id: str = ""
    token: str = ""
    calls_base: int = 0
    history: int = 0  # the machine's estimate of its history events before this task (asl.HistoryCost)
    retries: int = 0  # $$.State.RetryCount: earlier attempts of this task
    # Route's limits (asl.py), so a task running several steps stops where Route would continue as new.
    history_budget: int = HISTORY_BUDGET
    max_model_calls: int = schema.MAX_MODEL_CALLS_PER_EXECUTION
    error: dict[str, Any] = field(default_factory=dict)

    @staticmethod
    def parse(raw: Mapping[str, Any]) -> TaskEvent:
        """Raises ConfigError naming the field when the state machine sent something malformed."""
        missing = [k for k in ("task", "session_id", "turn") if raw.get(k) in (None, "")]
        if missing:
            raise ConfigError(f"agent-step event is missing {', '.join(missing)}: got keys {sorted(raw)}")
        try:
            turn = int(raw["turn"])
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"agent-step event field 'turn' must be an integer, got {raw['turn']!r}") from exc
        error = raw.get("error") or {}
        return TaskEvent(
            task=str(raw["task"]),
            session_id=str(raw["session_id"]),
            turn=turn,
            tool_use_id=str(raw.get("tool_use_id") or ""),
            token=str(raw.get("token") or ""),
            calls_base=int(raw.get("calls_base") or 0),
            history=int(raw.get("history") or 0),
            retries=int(raw.get("retries") or 0),
            history_budget=int(raw.get("history_budget") or HISTORY_BUDGET),
            max_model_calls=int(raw.get("max_model_calls") or schema.MAX_MODEL_CALLS_PER_EXECUTION),
            error=dict(error) if isinstance(error, Mapping) else {"Error": str(error)},
        )


def _loop() -> asyncio.AbstractEventLoop:
    """One loop per thread for the life of the container: clients bound to a loop survive across invocations."""
    loop: asyncio.AbstractEventLoop | None = getattr(_local, "loop", None)
    if loop is None or loop.is_closed():
        loop = asyncio.new_event_loop()
        _local.loop = loop
    return loop


class TaskRunner:
    """Dispatches agent-step events to the engine. `handle` is the synchronous Lambda entry point."""

    def __init__(
        self,
        engine: TurnEngine,
        *,
        notifier: SfnApprovalNotifier | None = None,
        driver: SfnTurnDriver | None = None,
        cancel_poll_s: float = CANCEL_POLL_S,
        chain: bool = True,
    ) -> None:
        self.engine = engine
        # chain: run consecutive steps in one invocation (chain.py); off, every step is its own task.
        self.chain = chain
        self.store = engine.store
        self.driver = driver
        self.notifier = notifier or (driver.approvals if driver is not None else None)
        self.cancel_poll_s = cancel_poll_s
        self._tasks: dict[str, Callable[[TaskEvent], Awaitable[dict[str, Any]]]] = {
            **{name: self._make_step(name) for name in _STEP_TASKS},
            "run_tools": self.run_tools,
            "plan_tools": self.plan_tools,
            "run_tool": self.run_tool,
            "await_decision": self.await_decision,
            "expire_approvals": self.expire_approvals,
            "record_failure": self.record_failure,
            "continue_as_new": self.continue_as_new,
        }

    def handle(self, event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
        return _loop().run_until_complete(self.dispatch(event, budget=StepBudget.from_context(context)))

    async def dispatch(self, raw: Mapping[str, Any], *, budget: StepBudget | None = None) -> dict[str, Any]:
        _budget.set(budget if self.chain else None)
        new_invocation = getattr(self.engine.envs, "new_invocation", None)
        if new_invocation is not None:  # warm_envs.StampedEnvs: settings saved through the API since count now
            new_invocation()
        event = TaskEvent.parse(raw)
        fn = self._tasks.get(event.task)
        if fn is None:
            raise ConfigError(f"unknown agent-step task {event.task!r}; expected one of {sorted(self._tasks)}")
        # The turn's trace (execution input): spans of a task outside engine.step (a Map item's tool call) join it.
        with tracing.continue_from(str(raw.get("traceparent") or "")):
            logger.info("task %s session %s turn %s %s", event.task, event.session_id, event.turn, event.tool_use_id)
            return await fn(event)

    # ------------------------------------------------------------ helpers

    @staticmethod
    def _result(
        ev: TaskEvent, outcome: str, session: Session | None, parallel: list[str] | None = None
    ) -> dict[str, Any]:
        state = session.turn_state if session is not None else None
        if state is None and outcome == "next":
            outcome = "done"  # the turn ended while this task ran (cancelled, reconciled): nothing to route to
        parallel = parallel or []
        return {
            "session_id": ev.session_id,
            "turn": ev.turn,
            "outcome": outcome,
            "step": state.step if state is not None else "",
            "parallel": parallel,
            "execution_calls": state.model_calls - ev.calls_base if state is not None else 0,
            "history": ev.history + HISTORY_COST.after_task(ev.task, retries=ev.retries, parallel=len(parallel)),
        }

    async def _current(self, ev: TaskEvent) -> Session | None:
        """The session while this execution's turn is in flight; None once the turn is over (stale task)."""
        session = await self.store.get_session(ev.session_id)
        state = session.turn_state
        return session if state is not None and state.turn == ev.turn else None

    async def _stopped(self, ev: TaskEvent) -> bool:
        """Whether this execution's turn must stop: cancel requested, or the turn was cancelled, or a later one runs.

        The session's cancel flag is cleared as soon as the turn has ended (tens of ms after it went up), so a check
        can miss it; the driver's per-turn mark (CANCELLED_NS) is never cleared. It is read only when the turn no
        longer looks current, so a normal poll costs one GetItem. A turn that ended without a cancel (the step itself
        finishing it) is left alone: interrupting that would cut its own final writes.
        """
        work = current_work()
        if isinstance(work, CallStats):
            work.polls += 1
        session = await self.store.get_session(ev.session_id)
        state = session.turn_state
        if session.cancel_requested or (state is not None and state.turn > ev.turn):
            return True
        if state is not None and state.turn == ev.turn:
            return False
        return await self.store.kv_get(CANCELLED_NS, f"{ev.session_id}:{ev.turn}") is not None

    async def _watch(self, ev: TaskEvent, work: Awaitable[T]) -> tuple[bool, T | None]:
        """Run `work`, cancelling it within one poll once the turn is cancelled or over. (cancelled, result)."""
        task = asyncio.ensure_future(work)
        while True:
            done, _ = await asyncio.wait({task}, timeout=self.cancel_poll_s)
            if done:
                return False, task.result()
            if await self._stopped(ev):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
                logger.info("turn %s cancelled or over: stopped work for session %s", ev.turn, ev.session_id)
                return True, None

    async def _model_failure(self, session: Session) -> str:
        """The error code the engine recorded when call_model ended the turn as failed-but-resumable."""
        last = await self.store.last_seq(session.id)
        for event in reversed(await self.store.read_events(session.id, after=max(0, last - 20))):
            if event.type == EventType.ERROR:
                return str(event.data.get("code", ""))
        return ""

    async def _after_step(self, ev: TaskEvent, outcome: str, *, fresh: bool = False) -> tuple[dict[str, Any], Session]:
        # The engine's own last read or write of the session is enough to route on: a change another process made
        # since (a cancel, a reconciled turn) is what the next step's own read sees first. After a cancel, read.
        recalled = None if fresh else getattr(self.store, "recalled", None)
        session = recalled(ev.session_id) if recalled is not None else None
        if session is None:
            session = await self.store.get_session(ev.session_id)
        state = session.turn_state
        if outcome == "done" and state is not None and session.status == "failed" and state.step == "call_model":
            code = await self._model_failure(session)
            error = _RETRYABLE_MODEL.get(code)
            if error is not None:
                # Step Functions retries the step with backoff; the engine resumes at call_model.
                raise error(session.error or code)
            return self._result(ev, "failed", session), session
        return self._result(ev, outcome, session), session

    async def _step_once(self, ev: TaskEvent, session: Session) -> tuple[dict[str, Any], Session]:
        assert session.turn_state is not None
        step, started, wall = session.turn_state.step, time.monotonic(), time.time()
        calls = track()
        cancelled = False
        if session.cancel_requested:
            # The engine ends the turn as cancelled; watching would interrupt that very write half-way.
            outcome = str(await self.engine.step(ev.session_id))
        else:
            cancelled, result = await self._watch(ev, self.engine.step(ev.session_id))
            outcome = "next" if cancelled else str(result)
        # One line per step (the benchmark reads them: per-step overhead without transitions in between).
        ms = (time.monotonic() - started) * 1000
        logger.info(
            "step %s of turn %s: %s in %.0f ms",
            step,
            ev.turn,
            outcome,
            ms,
            extra={
                "step_timing": {
                    "step": step,
                    "start": wall,
                    "end": time.time(),
                    "ms": round(ms, 1),
                    # Store round trips inside the step (the cancel watch's polls included), and their time.
                    "ddb_calls": calls.calls,
                    "ddb_ms": round(calls.ms, 1),
                    "ddb_ops": dict(calls.ops),
                    "ddb_polls": calls.polls,
                }
            },
        )
        untrack()
        return await self._after_step(ev, outcome, fresh=cancelled)

    async def _step(self, ev: TaskEvent, session: Session, *, chain: bool = True) -> dict[str, Any]:
        """Run the turn's current step, then (chain) the ones after it while this invocation may (chain.py)."""
        result, session = await self._step_once(ev, session)
        budget = _budget.get() if chain else None
        checked = time.monotonic()
        while result["outcome"] == "next" and budget is not None and budget.left():
            if not await self._chainable(ev, session):
                break
            if time.monotonic() - checked >= EXECUTION_CHECK_S:
                checked = time.monotonic()
                if await self._execution_stopped(ev):
                    logger.info("execution of turn %s stopped: no further steps for session %s", ev.turn, ev.session_id)
                    break
            result, session = await self._step_once(ev, session)
        return result

    async def _execution_stopped(self, ev: TaskEvent) -> bool:
        """Whether the turn's execution no longer runs (stopped, failed, timed out): the machine this invocation
        serves will route nothing, so its steps must not run on. The session's cancel flag is read by every step
        already; this is the case without one. False without a driver (tests, local runs) or a record of it."""
        if self.driver is None:
            return False
        info = await self.driver.execution(ev.session_id)
        return info is not None and info.get("status", "RUNNING") != "RUNNING"

    async def _chainable(self, ev: TaskEvent, session: Session) -> bool:
        """Whether the session's next step may run in this invocation rather than as the machine's next task."""
        state = session.turn_state
        if state is None or state.turn != ev.turn or session.cancel_requested or state.step not in _STEP_TASKS:
            return False
        if state.step == "call_model":
            # Route decides ContinueAsNew at this boundary (asl._route): leave it to the machine when it would.
            history = ev.history + HISTORY_COST.after_task(ev.task, retries=ev.retries, parallel=0)
            return state.model_calls - ev.calls_base < ev.max_model_calls and history < ev.history_budget
        if state.step == "run_tools":
            return quick_tools(await self._calls(ev, session))
        return True

    async def _calls(self, ev: TaskEvent, session: Session) -> list[tuple[str, str, bool]]:
        """(name, status, read_only) of the turn's tool calls still to run."""
        env = await self.engine.envs.env_for(session)
        calls: list[tuple[str, str, bool]] = []
        for record in await self.store.list_tool_records(ev.session_id, turn=ev.turn):
            if record.status not in TERMINAL_TOOL_STATUSES:
                tool = env.tools.get(record.name)
                calls.append((record.name, record.status, tool is not None and tool.read_only))
        return calls

    def _make_step(self, step: str) -> Callable[[TaskEvent], Awaitable[dict[str, Any]]]:
        async def run(ev: TaskEvent) -> dict[str, Any]:
            session = await self._current(ev)
            if session is None:
                return self._result(ev, "done", None)
            assert session.turn_state is not None
            if session.turn_state.step != step:
                return self._result(ev, "next", session)  # already past this step: route on
            return await self._step(ev, session)

        run.__name__ = step
        return run

    # ------------------------------------------------------------ tools

    async def _pending(self, ev: TaskEvent, session: Session) -> list[tuple[str, bool]]:
        """(tool_use_id, runs in parallel) of the reply's calls still to run, in the order the model made them."""
        env = await self.engine.envs.env_for(session)
        out: list[tuple[str, bool]] = []
        for record in await self.store.list_tool_records(ev.session_id, turn=ev.turn):
            if record.status in TERMINAL_TOOL_STATUSES or record.status == "waiting":
                continue  # a call parked on a decision (a blocking staged output) has nothing to run
            tool = env.tools.get(record.name)
            out.append((record.tool_use_id, record.status == "allowed" and tool is not None and tool.read_only))
        return out

    async def plan_tools(self, ev: TaskEvent) -> dict[str, Any]:
        """The leading read-only calls still to run, for the parallel Map (two or more; one runs in RunTools).

        Only those before the next call with effects: a Read the model asked for after an Edit must see the edit.
        """
        session = await self._current(ev)
        if session is None:
            return self._result(ev, "done", None)
        assert session.turn_state is not None
        if session.turn_state.step != "run_tools":
            return self._result(ev, "next", session)
        ids: list[str] = []
        for tool_use_id, parallel in await self._pending(ev, session):
            if not parallel:
                break
            ids.append(tool_use_id)
        return self._result(ev, "next", session, ids if len(ids) >= 2 else [])

    async def run_tools(self, ev: TaskEvent) -> dict[str, Any]:
        """One call per invocation, so no call shares another's 15-minute Lambda limit: while more than one is left,
        run the next and come back through PlanTools (which batches the read-only ones after it); the last one runs
        inside the engine's run_tools step, which appends the results and moves on to the model.

        After a call that is not quick (chain.quick_tools) the task hands the turn back instead of running on: the
        next steps get an invocation of their own, and a machine stopped meanwhile runs none of them."""
        session = await self._current(ev)
        if session is None:
            return self._result(ev, "done", None)
        assert session.turn_state is not None
        if session.turn_state.step != "run_tools" or session.cancel_requested:
            return await self._step(ev, session)
        pending = await self._pending(ev, session)
        if len(pending) <= 1:
            return await self._step(ev, session, chain=quick_tools(await self._calls(ev, session)))
        await self._watch(ev, self.engine.run_tool(ev.session_id, pending[0][0]))
        return self._result(ev, "next", await self._current(ev))

    async def run_tool(self, ev: TaskEvent) -> dict[str, Any]:
        if not ev.tool_use_id:
            raise ConfigError("run_tool event is missing tool_use_id")
        session = await self._current(ev)
        if session is not None:
            await self._watch(ev, self.engine.run_tool(ev.session_id, ev.tool_use_id))
        return self._result(ev, "next", session)

    # ------------------------------------------------------------ approvals

    async def await_decision(self, ev: TaskEvent) -> dict[str, Any]:
        """Park the turn: store the task token on every pending approval; the API's decision sends it back."""
        if not ev.token:
            raise ConfigError("await_decision event is missing the task token ($$.Task.Token)")
        if self.notifier is None:
            raise ConfigError("await_decision needs Step Functions access (TaskRunner(notifier=...))")
        attach = getattr(self.store, "attach_task_token", None)
        for approval in await self.store.list_approvals(ev.session_id, status="pending"):
            if attach is not None:
                await attach(ev.session_id, approval.id, ev.token)
            else:  # stores without a conditional attach: a decision racing this put could be overwritten
                await self.store.put_approval(replace(approval, task_token=ev.token))
        session = await self.store.get_session(ev.session_id)
        pending = await self.store.list_approvals(ev.session_id, status="pending")
        if session.cancel_requested:
            await self.notifier.send_failure(ev.token, error="Cancelled", cause="cancelled while waiting")
        elif not any(a.task_token == ev.token for a in pending):
            # Everything was decided before the token existed, so no decision will ever send it: resume now.
            await self.notifier.send_success(ev.token, {"decided_before_wait": True})
        return self._result(ev, "wait", session)

    async def expire_approvals(self, ev: TaskEvent) -> dict[str, Any]:
        for approval in await self.store.list_approvals(ev.session_id, status="pending"):
            await self.engine.resolve_approval(
                ev.session_id,
                approval.id,
                allow=False,
                by="timeout",
                message="The approval request expired before anyone answered.",
            )
        return self._result(ev, "next", await self._current(ev))

    # ------------------------------------------------------------ failure and continuation

    async def record_failure(self, ev: TaskEvent) -> dict[str, Any]:
        """The top-level Catch: append the failure to the event log and end the turn as failed."""
        error = str(ev.error.get("Error", "States.Runtime"))
        cause = str(ev.error.get("Cause", ""))
        with contextlib.suppress(ValueError, TypeError):
            parsed = json.loads(cause)
            if isinstance(parsed, dict):
                cause = str(parsed.get("errorMessage") or cause)  # pyright: ignore[reportUnknownMemberType]
        session = await self.store.get_session(ev.session_id)
        state = session.turn_state
        if state is None or state.turn != ev.turn:
            return self._result(ev, "done", None)
        if session.status == "failed" and state.step == "call_model":
            return self._result(ev, "failed", session)  # the engine recorded it; the turn stays resumable
        message = f"{error}: {cause}" if cause else error
        try:
            await self.engine.fail_turn(ev.session_id, subtype="error_during_execution", error=message)
        except Exception:  # the engine itself is what failed: write the record directly
            logger.exception("fail_turn failed for %s; recording the failure directly", ev.session_id)
            await self.store.append_event(ev.session_id, EventType.ERROR, {"code": error, "message": cause})
            fresh = await self.store.get_session(ev.session_id)
            await self.store.update_session(replace(fresh, turn_state=None, status="failed", error=message))
            await self.store.append_event(
                ev.session_id,
                EventType.TURN_FAILED,
                {"turn": ev.turn, "subtype": "error_during_execution", "error": message},
            )
        return self._result(ev, "failed", None)

    async def continue_as_new(self, ev: TaskEvent) -> dict[str, Any]:
        """Hand a long turn to a fresh execution so no history nears the 25,000-event limit."""
        if self.driver is None:
            raise ConfigError("continue_as_new needs the Step Functions driver (TaskRunner(driver=...))")
        session = await self._current(ev)
        if session is None or session.turn_state is None:
            return self._result(ev, "done", None)
        calls = session.turn_state.model_calls
        await self.driver.start_turn(ev.session_id, suffix=f"-c{calls}", calls_base=calls)
        return self._result(ev, "done", None)
