"""run_tools: at-most-once tool execution, crash recovery, PostToolUse hooks and the tool_result message."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import replace
from typing import Any, cast

from . import tracing
from .environment import SessionEnv
from .events import EventType
from .messages import Message, ToolResultBlock, message_to_dict
from .session import TERMINAL_TOOL_STATUSES, Approval, Session, ToolRecord, TurnState
from .steps_base import StepHost, StepResult
from .tools import SessionState, Tool, ToolContext, ToolOutput

logger = logging.getLogger(__name__)

INTERRUPTED = (
    "Tool execution was interrupted before it reported a result (the runtime restarted). "
    "It may or may not have taken effect; check before retrying."
)
EVENT_OUTPUT_LIMIT = 20_000
# Tool state a parallel item (run_tool) ended with, keyed "{session}:{tool_use_id}" until run_tools merges it.
ITEM_STATE_NS = "tool_state_items"


def _preview(text: str) -> str:
    return text if len(text) <= EVENT_OUTPUT_LIMIT else text[:EVENT_OUTPUT_LIMIT] + "\n…[truncated in event]"


def _snapshot(state: SessionState) -> str:
    return json.dumps(state.to_dict(), sort_keys=True, default=str)


class RunSteps(StepHost):
    # ------------------------------------------------------------ run

    async def run_tools(self, session: Session, state: TurnState, env: SessionEnv) -> StepResult:
        assistant = await self._assistant(session.id, state)
        docs = await self._item_docs(session.id)
        stored = await self.load_state(session)
        saved = _snapshot(stored)  # a copy: tools change the state in place
        tool_state = self._merge(session, stored, assistant, docs)
        records = await self._turn_records(session.id, state.turn)
        batch: list[ToolRecord] = []
        for use in assistant.tool_uses:
            record = records.get(use.id)
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
        if docs or _snapshot(tool_state) != saved:  # read-only calls mostly leave it as it was: no write then
            await self.save_state(session.id, tool_state)
        for tool_use_id in docs:  # merged and saved above; a crash before this merges them again (idempotent)
            await self.store.kv_delete(ITEM_STATE_NS, f"{session.id}:{tool_use_id}")
        records = await self._turn_records(session.id, state.turn)  # as the calls left them
        if self._parked(assistant, records):
            # A call is parked on a decision (a blocking staged output): wait for it like for a tool approval.
            await self.advance(session, replace(state, step="await_approval"), status="waiting")
            return "next"
        await self._append_results(session, state, assistant, records)
        # A cancel that came in meanwhile fails this conditional write; it is applied again over the flag, and the
        # next step() sees the flag and finishes the turn as cancelled.
        await self.advance(session, replace(state, step="call_model"))
        return "next"

    async def _turn_records(self, session_id: str, turn: int) -> dict[str, ToolRecord]:
        """The turn's tool records by call id, in one read."""
        return {r.tool_use_id: r for r in await self.store.list_tool_records(session_id, turn=turn)}

    async def _run_batch(self, session: Session, env: SessionEnv, batch: list[ToolRecord], ts: SessionState) -> None:
        if len(batch) == 1:
            await self._run_one(session, env, batch[0], ts)
        elif batch:
            await asyncio.gather(*(self._run_one(session, env, r, ts) for r in batch))

    async def run_tool(self, session_id: str, tool_use_id: str) -> None:
        """Run one allowed tool call (a Step Functions Map item); idempotent.

        Items run side by side in separate processes, so each keeps the tool state it ends with (files read...)
        under its own key instead of overwriting the session's; run_tools merges them in call order.
        """
        session = await self.store.get_session(session_id)
        env = await self.envs.env_for(session)
        record = await self.store.get_tool_record(session_id, tool_use_id)
        if record is None or record.status in TERMINAL_TOOL_STATUSES:
            return
        # What earlier calls of this reply left (files read by a parallel Read) is visible to this one.
        state = session.turn_state
        ts = (
            await self._merge_item_states(session, await self._assistant(session_id, state))
            if state is not None
            else await self.load_state(session)
        )
        await self._run_one(session, env, record, ts)
        await self.store.kv_put(ITEM_STATE_NS, f"{session_id}:{tool_use_id}", {**ts.to_dict(), "item": tool_use_id})

    async def _item_docs(self, session_id: str) -> dict[str, dict[str, Any]]:
        """What parallel items saved (run_tool), by call id, in one read (usually none: calls ran in-process)."""
        docs = await self.store.kv_list(ITEM_STATE_NS, prefix=f"{session_id}:")
        return {str(d["item"]): d for d in docs if d.get("item")}

    async def _merge_item_states(self, session: Session, assistant: Message) -> SessionState:
        return self._merge(session, await self.load_state(session), assistant, await self._item_docs(session.id))

    def _merge(
        self, session: Session, merged: SessionState, assistant: Message, docs: dict[str, dict[str, Any]]
    ) -> SessionState:
        """The session's tool state with what parallel items saved folded in, deterministically: files read are
        the union (latest time wins); any other field an item changed takes that item's value, later calls last."""
        base = merged.to_dict()
        for use in assistant.tool_uses:
            doc = docs.get(use.id)
            if not doc:
                continue
            item = SessionState.from_dict(doc, default_cwd=session.cwd)
            for path, seen in item.read_files.items():
                merged.read_files[path] = max(seen, merged.read_files.get(path, seen))
            if item.cwd != base["cwd"]:
                merged.cwd = item.cwd
            if item.todos != base["todos"]:
                merged.todos = item.todos
            if item.background_jobs != base["background_jobs"]:
                merged.background_jobs = item.background_jobs
        return merged

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
            # The decision it runs on (rule, source): `dexa trace` and auditors read it from the log.
            {
                "tool_use_id": record.tool_use_id,
                "name": record.name,
                "input": record.input,
                "decision": record.decision,
            },
        )
        output = await self._traced_run(session, tool, record, ctx)
        park = output.data.get("park")
        if isinstance(park, dict):
            park = cast(dict[str, Any], park)
            if env.can_prompt:
                return await self._park(session, record, output, park)
            # Nobody can decide during this run: the call fails, saying why and where it can still be decided.
            data = {k: v for k, v in output.data.items() if k != "park"}
            output = ToolOutput(content=str(park.get("headless") or output.content), is_error=True, data=data)
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

    async def _traced_run(self, session: Session, tool: Tool, record: ToolRecord, ctx: ToolContext) -> ToolOutput:
        if not tracing.enabled():
            return await self._run_tool_body(tool, record, ctx)
        started = time.perf_counter()
        attrs = {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": record.name,
            "gen_ai.tool.call.id": record.tool_use_id,
            "dexa.session.id": session.id,
            "dexa.permission.decision": record.decision.get("behavior"),
            "dexa.permission.rule": record.decision.get("rule"),
            "dexa.permission.source": record.decision.get("source"),
        }
        with tracing.span(f"execute_tool {record.name}", attrs) as span, tracing.tool_scope(record.name):
            output = await self._run_tool_body(tool, record, ctx)
            data = output.data
            span.update(
                {
                    "dexa.tool.is_error": output.is_error,
                    "dexa.tool.exit_code": data.get("exit_code") if isinstance(data.get("exit_code"), int) else None,
                    "dexa.sandbox.duration_ms": data.get("duration_ms")
                    if isinstance(data.get("duration_ms"), int | float)
                    else None,
                }
            )
            if output.is_error:
                span.fail(output.content[:200])
        labels = {"gen_ai.tool.name": record.name, "dexa.org.id": session.org_id, "dexa.session.id": session.id}
        tracing.count("dexa.tool.calls", 1, {**labels, "dexa.tool.is_error": output.is_error})
        tracing.observe("dexa.tool.duration", time.perf_counter() - started, {"gen_ai.tool.name": record.name})
        return output

    async def _run_tool_body(self, tool: Tool, record: ToolRecord, ctx: ToolContext) -> ToolOutput:
        try:
            return await tool.run(dict(record.input), ctx)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a tool bug must become a tool error the model sees, never a dead turn
            logger.exception("tool %s crashed", record.name)
            return ToolOutput(content=f"{record.name} failed: {type(exc).__name__}: {exc}", is_error=True)

    async def _park(self, session: Session, record: ToolRecord, output: ToolOutput, park: dict[str, Any]) -> None:
        """The tool handed its call to someone else's decision (a staged output in blocking mode): the turn waits
        on an approval of the park's kind, and the decision (not a re-run) becomes the tool's result."""
        approval = Approval(
            id=f"ap_{record.tool_use_id}",
            session_id=session.id,
            tool_use_id=record.tool_use_id,
            tool_name=record.name,
            input=record.input,
            reason=str(park.get("reason") or output.content),
            rule=park.get("rule"),
            source=park.get("source"),
            kind=str(park.get("kind") or "output"),
            created_at=time.time(),
        )
        await self.store.put_approval(approval)
        waiting = replace(record, status="waiting", updated_at=time.time())
        await self.store.transition_tool(session.id, record.tool_use_id, from_status=["running"], to=waiting)
        data = {k: v for k, v in output.data.items() if k != "park"}
        await self.emit(
            session.id,
            EventType.PERMISSION_REQUIRED,
            {
                "approval_id": approval.id,
                "tool_use_id": record.tool_use_id,
                "tool_name": record.name,
                "input": record.input,
                "reason": approval.reason,
                "rule": approval.rule,
                "source": approval.source,
                "kind": approval.kind,
                "suggestions": [],
                "options": ["once", "deny"],
                "output_id": data.get("output_id"),
                "output": data,
            },
        )

    @staticmethod
    def _parked(assistant: Message, records: dict[str, ToolRecord]) -> bool:
        return any((r := records.get(use.id)) is not None and r.status == "waiting" for use in assistant.tool_uses)

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

    async def _append_results(
        self, session: Session, state: TurnState, assistant: Message, records: dict[str, ToolRecord]
    ) -> None:
        blocks: list[ToolResultBlock] = []
        for use in assistant.tool_uses:
            record = records.get(use.id)
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
