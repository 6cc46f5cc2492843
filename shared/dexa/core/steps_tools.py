"""decide_tools, await_approval and run_tools: permission decisions and at-most-once tool execution."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import replace
from typing import Any

from .environment import SessionEnv
from .events import EventType
from .messages import Message, ToolResultBlock, ToolUseBlock, message_to_dict
from .ports import PermissionDecision
from .session import TERMINAL_TOOL_STATUSES, Approval, Session, ToolRecord, TurnState
from .steps_base import StepHost, StepResult
from .tools import SessionState, Tool, ToolContext, ToolOutput

logger = logging.getLogger(__name__)

INTERRUPTED = (
    "Tool execution was interrupted before it reported a result (the runtime restarted). "
    "It may or may not have taken effect; check before retrying."
)
EVENT_OUTPUT_LIMIT = 20_000
# Polling tools legitimately repeat the same call; they only count as a loop when their output stops changing.
POLLING_TOOLS = frozenset({"BashOutput", "TaskOutput"})


def _preview(text: str) -> str:
    return text if len(text) <= EVENT_OUTPUT_LIMIT else text[:EVENT_OUTPUT_LIMIT] + "\n…[truncated in event]"


class ToolSteps(StepHost):
    # ------------------------------------------------------------ helpers

    async def _assistant(self, session_id: str, state: TurnState) -> Message:
        mid = f"t{state.turn}a{state.model_calls - 1}"
        for m in await self.store.list_messages(session_id, include_hidden=True):
            if m.id == mid:
                return m
        raise LookupError(f"assistant message {mid} missing from session {session_id}")

    async def load_state(self, session: Session) -> SessionState:
        doc = await self.store.kv_get("tool_state", session.id) or {}
        return SessionState.from_dict(doc, default_cwd=session.cwd)

    async def save_state(self, session_id: str, state: SessionState) -> None:
        await self.store.kv_put("tool_state", session_id, state.to_dict())

    async def _record_denial(self, session_id: str, turn: int, use: ToolUseBlock) -> None:
        key = f"{session_id}:{turn}"
        doc = await self.store.kv_get("permission_denials", key) or {"items": []}
        doc["items"].append({"tool_name": use.name, "tool_use_id": use.id, "tool_input": use.input})
        await self.store.kv_put("permission_denials", key, doc)

    async def _is_loop(self, session_id: str, name: str, tool_input: dict[str, Any], threshold: int) -> bool:
        """N identical calls in a row whose results did not change: a doom loop, not polling."""
        if threshold <= 0:
            return False
        recent = [r for r in await self.store.list_tool_records(session_id) if r.status in TERMINAL_TOOL_STATUSES]
        tail = recent[-(threshold - 1) :] if threshold > 1 else []
        if len(tail) < threshold - 1:
            return False
        key = json.dumps(tool_input, sort_keys=True)
        if any(r.name != name or json.dumps(r.input, sort_keys=True) != key for r in tail):
            return False
        outputs = {json.dumps(r.result, sort_keys=True) for r in tail}
        return len(outputs) <= 1

    # ------------------------------------------------------------ decide

    async def decide_tools(self, session: Session, state: TurnState, env: SessionEnv) -> StepResult:
        assistant = await self._assistant(session.id, state)
        waiting = False
        for use in assistant.tool_uses:
            record = await self.store.get_tool_record(session.id, use.id)
            if record is None:
                record = await self._decide_one(session, state, env, use)
            waiting = waiting or record.status == "waiting"
        await self.advance(
            session,
            replace(state, step="await_approval" if waiting else "run_tools"),
            status="waiting" if waiting else "running",
        )
        return "next"

    async def _decide_one(self, session: Session, state: TurnState, env: SessionEnv, use: ToolUseBlock) -> ToolRecord:
        now = time.time()
        await self.emit(
            session.id,
            EventType.TOOL_REQUESTED,
            {"turn": state.turn, "tool_use_id": use.id, "name": use.name, "input": use.input},
        )
        tool = env.tools.get(use.name)
        tool_input = dict(use.input)
        if tool is None:
            decision = PermissionDecision(
                behavior="deny",
                rule=None,
                source="runtime",
                reason=f"No such tool: {use.name}. Available: {', '.join(env.tools.names())}",
            )
        else:
            hook = None
            if env.hooks is not None:
                hook = await env.hooks.run(
                    "PreToolUse",
                    self.hook_payload(
                        session, env, "PreToolUse", tool_name=use.name, tool_input=tool_input, tool_use_id=use.id
                    ),
                    match=use.name,
                )
                if hook.updated_input is not None:
                    tool_input = dict(hook.updated_input)
                if hook.blocked and hook.permission_decision is None:
                    hook = replace(hook, permission_decision="deny")
            decision = env.policy.decide(tool.spec.name, tool_input, mode=session.permission_mode, cwd=session.cwd)
            decision = env.combine(hook, decision, session.permission_mode)
            if (
                decision.behavior == "allow"
                and tool.spec.name not in POLLING_TOOLS
                and await self._is_loop(session.id, tool.spec.name, tool_input, env.loop_threshold)
            ):
                decision = PermissionDecision(
                    behavior="ask",
                    rule="loop-detection",
                    source="policy",
                    reason=f"The agent made the same {tool.spec.name} call {env.loop_threshold} times with no change "
                    "in result. Continue?",
                )
        if decision.behavior == "ask" and not env.can_prompt:
            await self._record_denial(session.id, state.turn, use)
            decision = replace(
                decision,
                behavior="deny",
                reason=(decision.reason + " " if decision.reason else "")
                + "(no approver in this headless run; allow it with --allowedTools or settings)",
            )
        record = ToolRecord(
            session_id=session.id,
            tool_use_id=use.id,
            name=use.name,
            input=tool_input,
            turn=state.turn,
            created_at=now,
            updated_at=now,
            decision={
                "behavior": decision.behavior,
                "rule": decision.rule,
                "source": decision.source,
                "reason": decision.reason,
            },
        )
        if decision.behavior == "allow":
            record = replace(record, status="allowed")
        elif decision.behavior == "deny":
            msg = f"Permission to use {use.name} was denied. {decision.reason}".strip()
            record = replace(record, status="denied", result={"content": msg, "is_error": True})
        else:
            record = replace(record, status="waiting")
            await self._ask(session, env, record, decision)
        await self.store.put_tool_record(record)
        if record.status == "denied":
            await self.emit(
                session.id,
                EventType.TOOL_COMPLETED,
                {
                    "tool_use_id": use.id,
                    "name": use.name,
                    "status": "denied",
                    "is_error": True,
                    "content": record.result["content"] if record.result else "",
                    "decision": record.decision,
                },
            )
        return record

    async def _ask(self, session: Session, env: SessionEnv, record: ToolRecord, decision: PermissionDecision) -> None:
        approval = Approval(
            id=f"ap_{record.tool_use_id}",
            session_id=session.id,
            tool_use_id=record.tool_use_id,
            tool_name=record.name,
            input=record.input,
            reason=decision.reason,
            rule=decision.rule,
            source=decision.source,
            kind="loop" if decision.rule == "loop-detection" else "tool",
            created_at=time.time(),
            suggestions=list(decision.suggestions),
        )
        await self.store.put_approval(approval)
        await self.emit(
            session.id,
            EventType.PERMISSION_REQUIRED,
            {
                "approval_id": approval.id,
                "tool_use_id": record.tool_use_id,
                "tool_name": record.name,
                "input": record.input,
                "reason": decision.reason,
                "rule": decision.rule,
                "source": decision.source,
                "kind": approval.kind,
                "suggestions": approval.suggestions,
                "options": ["once", "always", "deny"],
            },
        )
        if env.hooks is not None:
            await env.hooks.run(
                "Notification",
                self.hook_payload(
                    session,
                    env,
                    "Notification",
                    message=f"Dexa needs your permission to use {record.name}",
                    notification_type="permission_prompt",
                ),
            )

    # ------------------------------------------------------------ await

    async def await_approval(self, session: Session, state: TurnState, env: SessionEnv) -> StepResult:
        assistant = await self._assistant(session.id, state)
        for use in assistant.tool_uses:
            record = await self.store.get_tool_record(session.id, use.id)
            if record is None or record.status != "waiting":
                continue
            approval = await self.store.get_approval(session.id, f"ap_{use.id}")
            if approval is None or approval.status == "pending":
                return "wait"
            if approval.status == "allowed":
                new = replace(record, status="allowed", input=approval.input, updated_at=time.time())
            else:
                msg = "The user denied this tool call."
                if approval.message:
                    msg += f" Their message: {approval.message}"
                new = replace(
                    record, status="denied", result={"content": msg, "is_error": True}, updated_at=time.time()
                )
            await self.store.transition_tool(session.id, use.id, from_status=["waiting"], to=new)
        await self.advance(session, replace(state, step="run_tools"), status="running")
        return "next"

    # ------------------------------------------------------------ run

    async def run_tools(self, session: Session, state: TurnState, env: SessionEnv) -> StepResult:
        assistant = await self._assistant(session.id, state)
        tool_state = await self.load_state(session)
        batch: list[ToolRecord] = []
        for use in assistant.tool_uses:
            record = await self.store.get_tool_record(session.id, use.id)
            if record is None or record.status in TERMINAL_TOOL_STATUSES:
                continue
            tool = env.tools.get(record.name)
            if tool is not None and tool.read_only and record.status == "allowed":
                batch.append(record)
                continue
            await self._run_batch(session, env, batch, tool_state)
            batch = []
            await self._run_one(session, env, record, tool_state)
        await self._run_batch(session, env, batch, tool_state)
        await self.save_state(session.id, tool_state)
        await self._append_results(session, state, assistant)
        fresh = await self.store.get_session(session.id)
        if fresh.cancel_requested:
            return "next"  # step() sees the flag and finishes the turn as cancelled
        await self.advance(session, replace(state, step="call_model"))
        return "next"

    async def _run_batch(self, session: Session, env: SessionEnv, batch: list[ToolRecord], ts: SessionState) -> None:
        if len(batch) == 1:
            await self._run_one(session, env, batch[0], ts)
        elif batch:
            await asyncio.gather(*(self._run_one(session, env, r, ts) for r in batch))

    async def run_tool(self, session_id: str, tool_use_id: str) -> None:
        """Run one allowed tool call (a Step Functions Map item); idempotent."""
        session = await self.store.get_session(session_id)
        env = await self.envs.env_for(session)
        record = await self.store.get_tool_record(session_id, tool_use_id)
        if record is None or record.status in TERMINAL_TOOL_STATUSES:
            return
        ts = await self.load_state(session)
        await self._run_one(session, env, record, ts)
        await self.save_state(session_id, ts)

    async def _run_one(self, session: Session, env: SessionEnv, record: ToolRecord, ts: SessionState) -> None:
        tool = env.tools.get(record.name)
        if tool is None:
            return
        ctx = ToolContext(
            session_id=session.id,
            org_id=session.org_id,
            tool_use_id=record.tool_use_id,
            workspace=env.workspace,
            state=ts,
            emit=lambda t, d: self.emit(session.id, t, d),
            kv=self.store,
            network=env.network,
            allow_private_network=env.allow_private_network,
            services=env.services,
        )
        if record.status == "running":
            output = await self._recover(tool, record, ctx)
            if output is None:
                return await self._execute(session, env, tool, record, ctx, already_running=True)
            return await self._complete_tool(
                session, env, record, output, status="interrupted" if output.content == INTERRUPTED else "done"
            )
        await self._execute(session, env, tool, record, ctx, already_running=False)

    async def _recover(self, tool: Tool, record: ToolRecord, ctx: ToolContext) -> ToolOutput | None:
        recover = getattr(tool, "recover", None)
        if recover is None:
            return ToolOutput(content=INTERRUPTED, is_error=True)
        out: ToolOutput | None = await recover(record.input, ctx)
        return out

    async def _execute(
        self,
        session: Session,
        env: SessionEnv,
        tool: Tool,
        record: ToolRecord,
        ctx: ToolContext,
        *,
        already_running: bool,
    ) -> None:
        if not tool.read_only and env.checkpointer is not None and not already_running:
            await env.checkpointer.checkpoint(
                session.id, reason="tool", message_id=None, tool_use_id=record.tool_use_id
            )
        if not already_running:
            running = replace(record, status="running", updated_at=time.time())
            if not await self.store.transition_tool(
                session.id, record.tool_use_id, from_status=["allowed"], to=running
            ):
                return  # someone else claimed it: at most once
            record = running
        await self.emit(
            session.id,
            EventType.TOOL_STARTED,
            {"tool_use_id": record.tool_use_id, "name": record.name, "input": record.input},
        )
        try:
            output = await tool.run(dict(record.input), ctx)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a tool bug must become a tool error the model sees, never a dead turn
            logger.exception("tool %s crashed", record.name)
            output = ToolOutput(content=f"{record.name} failed: {type(exc).__name__}: {exc}", is_error=True)
        if env.hooks is not None:
            hook = await env.hooks.run(
                "PostToolUse",
                self.hook_payload(
                    session,
                    env,
                    "PostToolUse",
                    tool_name=record.name,
                    tool_input=record.input,
                    tool_use_id=record.tool_use_id,
                    tool_response=output.data or {"content": output.content, "is_error": output.is_error},
                ),
                match=record.name,
            )
            if hook.blocked and hook.reason:
                output.content += f"\n\n<post-tool-use-hook>{hook.reason}</post-tool-use-hook>"
            if hook.additional_context:
                output.content += f"\n\n<post-tool-use-hook>{hook.additional_context}</post-tool-use-hook>"
        await self._complete_tool(session, env, record, output, status="failed" if output.is_error else "done")

    async def _complete_tool(
        self, session: Session, env: SessionEnv, record: ToolRecord, output: ToolOutput, *, status: str
    ) -> None:
        done = replace(
            record,
            status=status,  # pyright: ignore[reportArgumentType]
            result={"content": output.content, "is_error": output.is_error},
            updated_at=time.time(),
        )
        await self.store.transition_tool(session.id, record.tool_use_id, from_status=["running"], to=done)
        await self.emit(
            session.id,
            EventType.TOOL_COMPLETED,
            {
                "tool_use_id": record.tool_use_id,
                "name": record.name,
                "status": status,
                "is_error": output.is_error,
                "content": _preview(output.content),
                "data": output.data,
            },
        )

    async def _append_results(self, session: Session, state: TurnState, assistant: Message) -> None:
        blocks: list[ToolResultBlock] = []
        for use in assistant.tool_uses:
            record = await self.store.get_tool_record(session.id, use.id)
            result = (record.result if record else None) or {"content": INTERRUPTED, "is_error": True}
            blocks.append(
                ToolResultBlock(
                    tool_use_id=use.id,
                    content=str(result.get("content", "")),
                    is_error=bool(result.get("is_error", False)),
                )
            )
        message = Message(id=f"t{state.turn}r{state.model_calls - 1}", role="user", content=tuple(blocks))
        if await self.store.put_message(session.id, message):
            await self.emit(
                session.id,
                EventType.MESSAGE_USER,
                {"turn": state.turn, "message": message_to_dict(message), "tool_results": True},
            )

    async def interrupt_running_tools(self, session_id: str) -> None:
        for record in await self.store.list_tool_records(session_id):
            if record.status in ("running", "allowed", "waiting"):
                done = replace(
                    record, status="interrupted", result={"content": "Interrupted by user", "is_error": True}
                )
                await self.store.transition_tool(session_id, record.tool_use_id, from_status=[record.status], to=done)
