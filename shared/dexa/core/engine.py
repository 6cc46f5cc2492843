"""The durable agent turn, written as steps over persisted state.

    begin_turn -> call_model -> (decide_tools -> [await_approval] -> run_tools -> call_model)* -> end_turn

Each step reads what it needs from the store, does its work idempotently, and persists the next step. The same
`step()` runs under the in-process driver and as a Step Functions task, and a crash anywhere resumes from the last
persisted step: messages have deterministic ids, tool calls have execution records, so nothing runs twice.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from typing import Any

from . import tracing
from .bus import Notifier
from .environment import EnvFactory, SessionEnv
from .errors import ConflictError, DexaError, EnvironmentBuildError, NotFoundError
from .events import Event, EventType
from .messages import Message, TextBlock, ToolResultBlock, message_to_dict, user_text
from .ports import Store
from .redact import Redactor
from .session import Approval, Session, TurnState
from .steps_base import StepHost, StepResult
from .steps_model import ModelSteps
from .steps_run import RunSteps
from .steps_tools import ToolSteps

logger = logging.getLogger(__name__)
# Claude Code forces a stop after this many consecutive Stop-hook continuations in one turn.
MAX_STOP_CONTINUATIONS = 8


NOTES_NAMESPACE = "session_notes"
# (approval, allow, by, message, updated_input) -> (allowed, what the agent is told), or None: someone else decides.
Decider = Callable[..., Awaitable[tuple[bool, str] | None]]


class TurnEngine(ModelSteps, ToolSteps, RunSteps, StepHost):
    def __init__(
        self,
        store: Store,
        envs: EnvFactory,
        *,
        notifier: Notifier | None = None,
        redactor: Redactor | None = None,
    ) -> None:
        self.store = store
        self.envs = envs
        self.notifier = notifier or Notifier()
        self.redactor = redactor or Redactor()
        # Told of every stored event, after it is stored (e.g. announcing a waiting approval in Slack). An
        # observer handles its own failures: the event is already in the log and the turn must go on.
        self.observers: list[Callable[[Event], Awaitable[None]]] = []
        # Approval kinds whose decision is an action performed elsewhere (a staged output, executed by the control
        # plane): whoever answers the approval, the decider performs it and says what the agent is told.
        self.deciders: dict[str, Decider] = {}
        # Turn spans due once the step that finished the turn has closed its own span (a parent ends last).
        self._turn_spans: dict[str, Callable[[], None]] = {}

    # ------------------------------------------------------------ events

    async def emit(self, session_id: str, type: str, data: Mapping[str, Any]) -> Event:
        event = await self.store.append_event(session_id, type, self.redactor.scrub(dict(data)))
        self.notifier.notify(f"events:{session_id}")
        for observe in self.observers:
            await observe(event)
        return event

    # ------------------------------------------------------------ entry points

    async def submit(self, session_id: str, prompt: str) -> TurnState:
        """Queue a user prompt as a new turn. Raises ConflictError when a turn is already in flight."""
        session = await self.store.get_session(session_id)
        if session.turn_state is not None and session.status in ("running", "waiting", "paused"):
            raise ConflictError(f"session {session_id} is busy with turn {session.turn_state.turn}")
        turn = (session.turn_state.turn if session.turn_state else session.turns_completed) + 1
        await self.store.kv_put("prompts", f"{session_id}:{turn}", {"prompt": prompt})
        trace, trace_parent = tracing.tracer().reserve()  # ("", "") with tracing off
        state = TurnState(
            turn=turn,
            step="begin_turn",
            prompt_message_id=f"t{turn}u",
            started_at=time.time(),
            trace=trace,
            trace_parent=trace_parent,
        )
        session = replace(session, turn_state=state, status="running", cancel_requested=False, error="")
        # Conditional on the version read above: two clients submitting at once cannot both start a turn.
        await self.store.update_session(session, expect_version=session.version)
        await self.emit(session_id, EventType.TURN_STARTED, {"turn": turn, "prompt": prompt})
        return state

    async def step(self, session_id: str) -> StepResult:
        """Run the session's current step once and persist the next one."""
        session = await self.store.get_session(session_id)
        state = session.turn_state
        if state is None:
            return "done"
        env = await self.env_for_turn(session)
        await self._startup_events(session, env)
        if session.cancel_requested and state.step != "end_turn":
            await self.finish_cancelled(session_id)
            return "done"
        handler = {
            "begin_turn": self.begin_turn,
            "call_model": self.call_model,
            "decide_tools": self.decide_tools,
            "await_approval": self.await_approval,
            "run_tools": self.run_tools,
            "end_turn": self.end_turn,
        }[state.step]
        if not tracing.enabled():
            return await handler(session, state, env)
        started = time.perf_counter()
        attrs = {"dexa.step": state.step, "dexa.session.id": session.id, "dexa.turn": state.turn}
        try:
            with tracing.continue_from(state.trace), tracing.span(f"dexa.step {state.step}", attrs) as span:
                result = await handler(session, state, env)
                span.set("dexa.step.result", result)
        finally:
            self._end_turn_span(session_id)  # after the step's span: a parent ends after its children
        tracing.observe("dexa.step.duration", time.perf_counter() - started, {"dexa.step": state.step})
        return result

    async def env_for_turn(self, session: Session) -> SessionEnv:
        """The session's environment; a failure to build it is an EnvironmentBuildError naming the cause."""
        try:
            return await self.envs.env_for(session)
        except EnvironmentBuildError:
            raise
        except Exception as exc:  # a bad workspace, settings file or sandbox must end the turn, not wedge it
            detail = str(exc) if isinstance(exc, DexaError) else f"{type(exc).__name__}: {exc}"
            raise EnvironmentBuildError(
                f"could not prepare the session environment for {session.cwd}: {detail}"
            ) from exc

    async def advance(self, session: Session, state: TurnState | None, **changes: Any) -> Session:
        return await self.update_latest(session.id, lambda latest: replace(latest, turn_state=state, **changes))

    async def _startup_events(self, session: Session, env: SessionEnv) -> None:
        if not env.startup_events:
            return
        pending, env.startup_events = env.startup_events, []
        for type_, data in pending:
            await self.emit(session.id, type_, data)

    # ------------------------------------------------------------ begin / end

    async def begin_turn(self, session: Session, state: TurnState, env: SessionEnv) -> StepResult:
        doc = await self.store.kv_get("prompts", f"{session.id}:{state.turn}") or {}
        prompt = str(doc.get("prompt", ""))
        await self._repair_history(session.id)
        session_context = await self._session_start(session, state, env)
        if env.hooks is not None:
            outcome = await env.hooks.run(
                "UserPromptSubmit", self.hook_payload(session, env, "UserPromptSubmit", prompt=prompt)
            )
            if outcome.blocked or outcome.stop:
                reason = outcome.reason or outcome.stop_reason or "blocked by a UserPromptSubmit hook"
                await self.emit(
                    session.id, EventType.HOOK, {"event": "UserPromptSubmit", "blocked": True, "reason": reason}
                )
                return await self._finish(session, state, env, result=reason, subtype="error_during_execution")
            if outcome.additional_context:
                prompt = (
                    f"{prompt}\n\n<user-prompt-submit-hook>\n{outcome.additional_context}\n</user-prompt-submit-hook>"
                )
        if session_context:
            prompt = f"<session-start-hook>\n{session_context}\n</session-start-hook>\n\n{prompt}"
        notes = await self._take_notes(session.id, state.turn)
        if notes:
            prompt = f"<system-reminder>\n{notes}\n</system-reminder>\n\n{prompt}"
        existing = await self.store.list_messages(session.id)
        if env.checkpointer is not None:
            await env.checkpointer.checkpoint(
                session.id, reason="prompt", message_id=existing[-1].id if existing else None
            )
        message = user_text(state.prompt_message_id, prompt)
        if await self.store.put_message(session.id, message):
            await self.emit(
                session.id, EventType.MESSAGE_USER, {"turn": state.turn, "message": message_to_dict(message)}
            )
        await self.advance(session, replace(state, step="call_model"))
        return "next"

    async def add_note(self, session_id: str, key: str, text: str) -> None:
        """Something the agent should hear at its next turn (a staged output decided since); once per key."""
        full = f"{session_id}:{key}"
        await self.store.kv_put_if_absent(NOTES_NAMESPACE, full, {"key": full, "text": text, "at": time.time()})

    async def _take_notes(self, session_id: str, turn: int) -> str:
        """The notes not yet shown, now bound to this turn (a re-run of this step shows the same ones again)."""
        docs = await self.store.kv_list(NOTES_NAMESPACE, prefix=f"{session_id}:")
        shown: list[str] = []
        for doc in sorted(docs, key=lambda d: float(d.get("at") or 0.0)):
            if doc.get("turn") not in (None, turn):
                continue
            if doc.get("turn") is None:
                key = str(doc.get("key") or "")
                if key:
                    await self.store.kv_put(NOTES_NAMESPACE, key, {**doc, "turn": turn})
            shown.append(str(doc.get("text", "")))
        return "\n\n".join(t for t in shown if t)

    async def _session_start(self, session: Session, state: TurnState, env: SessionEnv) -> str:
        """SessionStart hooks, once per session environment (source "startup" on the first turn, else "resume").

        Their context reaches the model with the prompt; SessionEnd runs when the environment is released."""
        if env.hooks is None or env.services.get("session_started"):
            return ""
        env.services["session_started"] = True
        env.services["session_end_payload"] = self.hook_payload(session, env, "SessionEnd", reason="other")
        source = "startup" if state.turn <= 1 else "resume"
        outcome = await env.hooks.run(
            "SessionStart", self.hook_payload(session, env, "SessionStart", source=source, model=session.model)
        )
        if outcome.system_message:
            await self.emit(session.id, EventType.HOOK, {"event": "SessionStart", "message": outcome.system_message})
        return outcome.additional_context

    async def end_turn(self, session: Session, state: TurnState, env: SessionEnv) -> StepResult:
        messages = await self.store.list_messages(session.id)
        result = next((m.text for m in reversed(messages) if m.role == "assistant" and m.text), "")
        if env.hooks is not None and state.stop_continuations < MAX_STOP_CONTINUATIONS:
            payload = self.hook_payload(
                session,
                env,
                "Stop",
                stop_hook_active=state.stop_hook_active,
                last_assistant_message=result,
                background_tasks=[],
                session_crons=[],
            )
            outcome = await env.hooks.run("Stop", payload)
            if outcome.blocked and outcome.reason:
                # A blocking Stop hook sends the agent back to work with its reason. It is asked again at the next
                # stop with stop_hook_active=true, as in Claude Code, up to 8 consecutive continuations.
                msg = Message(
                    id=f"t{state.turn}s{state.model_calls}",
                    role="user",
                    content=(TextBlock(text=f"Stop hook feedback:\n{outcome.reason}"),),
                    synthetic=True,
                )
                await self.store.put_message(session.id, msg)
                await self.emit(
                    session.id, EventType.HOOK, {"event": "Stop", "blocked": True, "reason": outcome.reason}
                )
                continued = replace(
                    state, step="call_model", stop_hook_active=True, stop_continuations=state.stop_continuations + 1
                )
                await self.advance(session, continued)
                return "next"
        if env.checkpointer is not None:
            await env.checkpointer.checkpoint(
                session.id, reason="turn_end", message_id=messages[-1].id if messages else None
            )
        return await self._finish(session, state, env, result=result, subtype="success")

    async def _finish(
        self,
        session: Session,
        state: TurnState,
        env: SessionEnv | None,
        *,
        result: str,
        subtype: str,
        error: str = "",
        status: str | None = None,
    ) -> StepResult:
        denials = await self.store.kv_get("permission_denials", f"{session.id}:{state.turn}") or {}
        status = status or ("idle" if subtype == "success" else "failed")
        fresh = await self.advance(
            session,
            None,
            status=status,
            turns_completed=state.turn,
            result=result,
            error=error,
            cancel_requested=False,
        )
        self._record_turn(fresh, state, subtype=subtype, error=error)
        await self.emit(
            session.id,
            EventType.TURN_COMPLETED if subtype == "success" else EventType.TURN_FAILED,
            {
                "turn": state.turn,
                "subtype": subtype,
                "is_error": subtype != "success",
                "result": result,
                "error": error,
                "num_turns": state.model_calls,
                "duration_ms": int((time.time() - state.started_at) * 1000) if state.started_at else 0,
                "usage": fresh.usage.to_dict(),
                "total_cost_usd": round(fresh.cost_usd, 6),
                "permission_denials": denials.get("items", []),
            },
        )
        await self.emit(session.id, EventType.SESSION_IDLE, {"status": status})
        return "done"

    def _record_turn(self, session: Session, state: TurnState, *, subtype: str, error: str) -> None:
        """The turn's span, with the id reserved at submit (tracing.reserve): written by _end_turn_span."""
        if not tracing.enabled() or not state.trace:
            return
        self._turn_spans[session.id] = lambda: tracing.tracer().record(
            "invoke_agent dexa",
            start=state.started_at or time.time(),
            end=time.time(),
            span=state.trace,
            parent=state.trace_parent,
            attrs={
                "gen_ai.operation.name": "invoke_agent",
                "gen_ai.agent.name": "dexa",
                "gen_ai.conversation.id": session.id,
                "dexa.session.id": session.id,
                "dexa.org.id": session.org_id,
                "dexa.turn": state.turn,
                "dexa.turn.subtype": subtype,
                "dexa.turn.model_calls": state.model_calls,
                "dexa.session.cost_usd": round(session.cost_usd, 6),
                "error.type": subtype if subtype not in ("success", "cancelled") else None,
            },
            error=(error or subtype) if subtype not in ("success", "cancelled") else "",
        )

    def _end_turn_span(self, session_id: str) -> None:
        if self._turn_spans:
            record = self._turn_spans.pop(session_id, None)
            if record is not None:
                record()

    async def fail_turn(
        self, session_id: str, *, subtype: str, error: str, code: str | None = None, status: str | None = None
    ) -> StepResult:
        """End the turn as failed. Needs no environment: the failure may be that it cannot be built."""
        session = await self.store.get_session(session_id)
        state = session.turn_state
        if state is None:
            return "done"
        await self.emit(session_id, EventType.ERROR, {"code": code or subtype, "message": error})
        result = await self._finish(session, state, None, result="", subtype=subtype, error=error, status=status)
        self._end_turn_span(session_id)
        return result

    async def finish_cancelled(self, session_id: str) -> None:
        session = await self.store.get_session(session_id)
        state = session.turn_state
        if state is None:
            return
        await self.interrupt_running_tools(session_id)
        await self._repair_history(session_id)
        await self.advance(session, None, status="idle", turns_completed=state.turn, cancel_requested=False)
        self._record_turn(session, state, subtype="cancelled", error="")
        await self.emit(session_id, EventType.TURN_CANCELLED, {"turn": state.turn})
        await self.emit(session_id, EventType.SESSION_IDLE, {"status": "idle"})
        self._end_turn_span(session_id)

    async def request_cancel(self, session_id: str) -> None:
        session = await self.store.get_session(session_id)
        await self.store.update_session(replace(session, cancel_requested=True))
        self.notifier.notify(f"approval:{session_id}")

    async def set_mode(self, session_id: str, mode: str) -> Session:
        session = await self.store.get_session(session_id)
        updated = await self.store.update_session(replace(session, permission_mode=mode))
        await self.emit(session_id, EventType.PERMISSION_MODE_CHANGED, {"from": session.permission_mode, "to": mode})
        return updated

    async def _repair_history(self, session_id: str) -> None:
        """Give every dangling tool_use a result so the history stays valid for the API after an interruption."""
        messages = await self.store.list_messages(session_id)
        if not messages or messages[-1].role != "assistant" or not messages[-1].tool_uses:
            return
        last = messages[-1]
        blocks: list[ToolResultBlock] = []
        for use in last.tool_uses:
            record = await self.store.get_tool_record(session_id, use.id)
            if record is not None and record.result is not None:
                blocks.append(
                    ToolResultBlock(
                        tool_use_id=use.id,
                        content=str(record.result.get("content", "")),
                        is_error=bool(record.result.get("is_error", False)),
                    )
                )
            else:
                blocks.append(ToolResultBlock(tool_use_id=use.id, content="Interrupted by user", is_error=True))
        # Unique per repair: a conversation rewind can make the same assistant message dangling twice.
        n = len(await self.store.list_messages(session_id, include_hidden=True))
        await self.store.put_message(
            session_id, Message(id=f"{last.id}-repair{n}", role="user", content=tuple(blocks), synthetic=True)
        )

    # ------------------------------------------------------------ approvals

    async def resolve_approval(
        self,
        session_id: str,
        approval_id: str,
        *,
        allow: bool,
        scope: str = "once",
        by: str = "",
        message: str = "",
        updated_input: Mapping[str, Any] | None = None,
    ) -> tuple[Approval, bool]:
        """Decide a pending approval exactly once. Returns (approval, won): won is False when it was already decided."""
        approval = await self.store.get_approval(session_id, approval_id)
        if approval is None:
            raise NotFoundError(f"approval {approval_id} not found in session {session_id}")
        decider = self.deciders.get(approval.kind)
        if decider is not None and approval.status == "pending":
            outcome = await decider(approval, allow=allow, by=by, message=message, updated_input=updated_input)
            if outcome is None:  # another caller is carrying the decision out and will resolve the approval
                return (await self.store.get_approval(session_id, approval_id) or approval), False
            allow, message = outcome
            scope, updated_input = "once", None
        decided = replace(
            approval,
            status="allowed" if allow else "denied",
            scope=scope if allow else "once",
            decided_by=by,
            message=message,
            decided_at=time.time(),
            input=dict(updated_input) if updated_input is not None else approval.input,
        )
        won = await self.store.resolve_approval(decided)
        if not won:
            current = await self.store.get_approval(session_id, approval_id)
            return (current or approval), False
        if allow and scope == "always" and approval.kind == "tool":
            session = await self.store.get_session(session_id)
            env = await self.envs.env_for(session)
            if env.on_always_allow is not None:
                await env.on_always_allow(approval.tool_name, approval.input, list(approval.suggestions))
        await self.emit(
            session_id,
            EventType.PERMISSION_RESOLVED,
            {
                "approval_id": approval_id,
                "tool_use_id": approval.tool_use_id,
                "tool_name": approval.tool_name,
                "kind": approval.kind,
                "decision": decided.status,
                "scope": decided.scope,
                "by": by,
                "message": message,
            },
        )
        self.notifier.notify(f"approval:{session_id}")
        return decided, True

    # ------------------------------------------------------------ hooks

    def hook_payload(self, session: Session, env: SessionEnv, event: str, **extra: Any) -> dict[str, Any]:
        return {
            "session_id": session.id,
            "transcript_path": env.transcript_path,
            "cwd": session.cwd,
            "permission_mode": session.permission_mode,
            "hook_event_name": event,
            **extra,
        }
