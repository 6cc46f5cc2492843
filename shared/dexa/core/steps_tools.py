"""decide_tools and await_approval: hooks, the permission decision, loop detection, approvals."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import replace
from typing import Any

from . import tracing
from .environment import SessionEnv
from .events import EventType
from .messages import ToolUseBlock
from .ports import PermissionDecision
from .session import TERMINAL_TOOL_STATUSES, Approval, Session, ToolRecord, TurnState
from .steps_base import StepHost, StepResult
from .tools import HeldTool

logger = logging.getLogger(__name__)

# Approval kinds whose decision someone else performs (the output queue executes an approved staged output).
DECIDED_ELSEWHERE = frozenset({"output"})
# Polling tools legitimately repeat the same call; they only count as a loop when their output stops changing.
POLLING_TOOLS = frozenset({"BashOutput", "TaskOutput"})


def _mode_prompt(decision: PermissionDecision) -> bool:
    """The mode's own prompt (no rule asked for it), or dontAsk's refusal of one: what a held call is spared."""
    source = decision.source or ""
    if decision.rule is not None or not source.startswith("mode:"):
        return False
    return decision.behavior == "ask" or (decision.behavior == "deny" and source == "mode:dontAsk")


def _decision_attrs(decision: dict[str, Any]) -> tracing.Attrs:
    return {
        "dexa.permission.decision": decision.get("behavior"),
        "dexa.permission.rule": decision.get("rule"),
        "dexa.permission.source": decision.get("source"),
    }


class ToolSteps(StepHost):
    # ------------------------------------------------------------ helpers

    async def _record_denial(self, session_id: str, turn: int, use: ToolUseBlock) -> None:
        key = f"{session_id}:{turn}"
        doc = await self.store.kv_get("permission_denials", key) or {"items": []}
        doc["items"].append({"tool_name": use.name, "tool_use_id": use.id, "tool_input": use.input})
        await self.store.kv_put("permission_denials", key, doc)

    async def _is_loop(
        self,
        session_id: str,
        name: str,
        tool_input: dict[str, Any],
        threshold: int,
        history: list[ToolRecord] | None = None,
    ) -> bool:
        """N identical calls in a row whose results did not change: a doom loop, not polling.

        `history`: the session's tool records in order, when the caller has them (one read per step, not per call)."""
        if threshold <= 0:
            return False
        records = history if history is not None else await self.store.list_tool_records(session_id)
        recent = [r for r in records if r.status in TERMINAL_TOOL_STATUSES]
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
        # Every record of the session in one read: which calls are decided already, and the loop check's history.
        known = {r.tool_use_id: r for r in await self.store.list_tool_records(session.id)}
        waiting = False
        for use in assistant.tool_uses:
            record = known.get(use.id)
            if record is None:
                with tracing.span(
                    f"dexa.permission {use.name}", {"gen_ai.tool.name": use.name, "gen_ai.tool.call.id": use.id}
                ) as span:
                    record = await self._decide_one(session, state, env, use, history=list(known.values()))
                    span.update(_decision_attrs(record.decision))
                known[use.id] = record
            waiting = waiting or record.status == "waiting"
        await self.advance(
            session,
            replace(state, step="await_approval" if waiting else "run_tools"),
            status="waiting" if waiting else "running",
        )
        return "next"

    async def _decide_one(
        self,
        session: Session,
        state: TurnState,
        env: SessionEnv,
        use: ToolUseBlock,
        history: list[ToolRecord] | None = None,
    ) -> ToolRecord:
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
                _mode_prompt(decision)
                and isinstance(tool, HeldTool)
                and await tool.held(tool_input, org_id=session.org_id, session_id=session.id)
            ):
                decision = PermissionDecision(
                    behavior="allow",
                    rule=None,
                    source="policy:held",
                    reason=f"{tool.spec.name} is held by the output policy (staged for review, auto-applied by "
                    "policy or blocked): the model's call alone reaches no server, so no permission prompt.",
                )
            if (
                decision.behavior == "allow"
                and tool.spec.name not in POLLING_TOOLS
                and await self._is_loop(session.id, tool.spec.name, tool_input, env.loop_threshold, history)
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

    async def _decided_elsewhere(self, session_id: str, record: ToolRecord, approval: Approval) -> None:
        """A parked call whose decision was carried out by the control plane (a staged output executed or not):
        the decision's message is the tool result; the call is never run again here."""
        ok = approval.status == "allowed"
        content = approval.message or ("Approved." if ok else "Rejected.")
        done = replace(
            record,
            status="done" if ok else "failed",
            result={"content": content, "is_error": not ok},
            updated_at=time.time(),
        )
        if await self.store.transition_tool(session_id, record.tool_use_id, from_status=["waiting"], to=done):
            await self.emit(
                session_id,
                EventType.TOOL_COMPLETED,
                {
                    "tool_use_id": record.tool_use_id,
                    "name": record.name,
                    "status": done.status,
                    "is_error": not ok,
                    "content": content,
                    "data": {"approval_id": approval.id, "decided_by": approval.decided_by},
                },
            )

    async def await_approval(self, session: Session, state: TurnState, env: SessionEnv) -> StepResult:
        assistant = await self._assistant(session.id, state)
        for use in assistant.tool_uses:
            record = await self.store.get_tool_record(session.id, use.id)
            if record is None or record.status != "waiting":
                continue
            approval = await self.store.get_approval(session.id, f"ap_{use.id}")
            if approval is None or approval.status == "pending":
                return "wait"
            if tracing.enabled():
                tracing.tracer().record(
                    "dexa.approval_wait",
                    start=approval.created_at,
                    end=approval.decided_at or time.time(),
                    attrs={
                        "dexa.approval.id": approval.id,
                        "dexa.approval.kind": approval.kind,
                        "dexa.approval.decision": approval.status,
                        "dexa.approval.scope": approval.scope,
                        "dexa.approval.decided_by": approval.decided_by,
                        "gen_ai.tool.name": approval.tool_name or None,
                    },
                )
            if approval.kind in DECIDED_ELSEWHERE:
                await self._decided_elsewhere(session.id, record, approval)
                continue
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
