"""The call_model step: guards, context compaction, streaming the model's answer into events."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import replace

from . import tracing
from .environment import SessionEnv
from .errors import ModelError
from .events import EventType
from .messages import Message, TextBlock, Usage, message_to_dict
from .ports import ModelRequest, ModelResponse, StreamDelta
from .pricing import cost_usd
from .session import Approval, Session, TurnState
from .steps_base import StepHost, StepResult

logger = logging.getLogger(__name__)

COMPACT_THRESHOLD = 0.8
KEEP_PROMPTS = 2
SUMMARY_PROMPT = (
    "Summarize the conversation so far for a fresh context window: the user's goals, decisions made, files and "
    "commands involved, what is done and what remains. Be specific and concise."
)


def estimate_tokens(system: str, messages: list[Message]) -> int:
    chars = len(system) + sum(len(json.dumps(message_to_dict(m))) for m in messages)
    return chars // 4


class _DeltaBuffer:
    """Coalesces token deltas so a fast stream costs a few events per second, not one write per token."""

    def __init__(self, host: StepHost, session_id: str, turn: int, message_id: str) -> None:
        self.host, self.session_id, self.turn, self.message_id = host, session_id, turn, message_id
        self.kind: str = ""
        self.text = ""
        self.last = time.monotonic()
        self.retries = 0

    async def push(self, delta: StreamDelta) -> None:
        if delta.kind == "retry":
            self.retries += 1
            await self.flush()
            await self.host.emit(self.session_id, EventType.MODEL_RETRY, dict(delta.data))
            return
        if delta.kind == "tool_input":
            return
        if self.kind and delta.kind != self.kind:
            await self.flush()
        self.kind = delta.kind
        self.text += delta.text
        if len(self.text) >= 200 or time.monotonic() - self.last > 0.05:
            await self.flush()

    async def flush(self) -> None:
        if self.text:
            type_ = EventType.TEXT_DELTA if self.kind == "text" else EventType.THINKING_DELTA
            await self.host.emit(
                self.session_id, type_, {"turn": self.turn, "message_id": self.message_id, "text": self.text}
            )
        self.text = ""
        self.last = time.monotonic()


def _observe_model_call(span: tracing.Span, session: Session, response: ModelResponse, cost: float) -> None:
    """The model call's GenAI attributes (OpenTelemetry semantic conventions) and its metrics."""
    usage = response.usage
    span.update(
        {
            "gen_ai.response.model": response.model,
            "gen_ai.response.id": response.message.id or None,
            "gen_ai.response.finish_reasons": response.message.stop_reason,
            "gen_ai.usage.input_tokens": usage.input_tokens,
            "gen_ai.usage.output_tokens": usage.output_tokens,
            "gen_ai.usage.cache_read.input_tokens": usage.cache_read_input_tokens,
            "gen_ai.usage.cache_creation.input_tokens": usage.cache_creation_input_tokens,
            "dexa.cost_usd": round(cost, 6),
        }
    )
    model = {"gen_ai.operation.name": "chat", "gen_ai.request.model": response.model}
    tracing.observe("gen_ai.client.operation.duration", response.duration_ms / 1000, model)
    tracing.observe("gen_ai.client.token.usage", usage.input_tokens, {**model, "gen_ai.token.type": "input"})
    tracing.observe("gen_ai.client.token.usage", usage.output_tokens, {**model, "gen_ai.token.type": "output"})
    # Cost per org, session and (for model calls made inside a tool: a subagent) tool.
    tracing.count(
        "dexa.cost",
        cost,
        {
            "dexa.org.id": session.org_id,
            "dexa.session.id": session.id,
            "gen_ai.request.model": response.model,
            "gen_ai.tool.name": tracing.current_tool(),
        },
    )


class ModelSteps(StepHost):
    async def call_model(self, session: Session, state: TurnState, env: SessionEnv) -> StepResult:
        limits = session.config
        if limits.max_turns is not None and state.model_calls >= limits.max_turns:
            return await self._finish(
                session,
                state,
                env,
                result="",
                subtype="error_max_turns",
                error=f"Reached max turns ({limits.max_turns})",
            )
        budget = limits.max_budget_usd if limits.max_budget_usd is not None else env.budget_usd
        if budget is not None and session.cost_usd >= budget:
            return await self._budget_pause(session, state, env, budget)
        response_id = f"t{state.turn}a{state.model_calls}"
        message = await self._message(session.id, response_id)
        spent: tuple[Usage, float] | None = None
        if message is None:
            try:
                message, spent = await self._complete_model(session, state, env, response_id)
            except ModelError as exc:
                # The session survives an outage: the turn stays at call_model, so resume retries it.
                await self.emit(
                    session.id,
                    EventType.ERROR,
                    {"code": exc.code, "status": getattr(exc, "status", None), "message": exc.message or str(exc)},
                )
                await self.advance(session, state, status="failed", error=str(exc))
                await self.emit(
                    session.id, EventType.TURN_FAILED, {"turn": state.turn, "error": str(exc), "retryable": True}
                )
                return "done"
        nxt = "decide_tools" if message.tool_uses else "end_turn"
        after = replace(state, step=nxt, model_calls=state.model_calls + 1)

        def advanced(latest: Session) -> Session:
            # The reply's usage goes in the same write as the next step (one session write per model call).
            if spent is None:
                return replace(latest, turn_state=after)
            return replace(latest, turn_state=after, usage=latest.usage + spent[0], cost_usd=latest.cost_usd + spent[1])

        await self.update_latest(session.id, advanced)
        return "next"

    async def _complete_model(
        self, session: Session, state: TurnState, env: SessionEnv, response_id: str
    ) -> tuple[Message, tuple[Usage, float] | None]:
        """The model's reply, stored, and what it cost when this call stored it (None: already stored)."""
        messages = await self.store.list_messages(session.id)
        system = env.system_prompt
        if estimate_tokens(system, messages) > env.context_window * COMPACT_THRESHOLD:
            messages = await self.compact(session, env, trigger="auto")
        model = env.model_for(session.permission_mode)
        request = ModelRequest(
            model=model.name,
            system=system,
            messages=tuple(messages),
            tools=tuple(env.tools.specs()),
            max_tokens=env.max_output_tokens,
            thinking_budget=env.thinking_budget,
            response_id=response_id,
        )
        buffer = _DeltaBuffer(self, session.id, state.turn, response_id)
        with tracing.span(
            f"chat {model.name}",
            {
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": getattr(model, "provider_name", "anthropic"),
                "gen_ai.request.model": model.name,
                "gen_ai.request.max_tokens": env.max_output_tokens,
                "gen_ai.conversation.id": session.id,
                "dexa.turn": state.turn,
            },
        ) as span:
            try:
                response = await model.complete(request, buffer.push)
            finally:
                span.set("dexa.model.retries", buffer.retries)
            await buffer.flush()
            cost = cost_usd(response.model, response.usage)
            if tracing.enabled():
                _observe_model_call(span, session, response, cost)
        message = replace(response.message, id=response_id)
        if await self.store.put_message(session.id, message):
            await self.emit(
                session.id,
                EventType.MESSAGE_ASSISTANT,
                {"turn": state.turn, "message": message_to_dict(message), "duration_ms": response.duration_ms},
            )
            await self.emit(
                session.id,
                EventType.USAGE,
                {
                    "turn": state.turn,
                    "model": response.model,
                    "usage": response.usage.to_dict(),
                    "cost_usd": round(cost, 6),
                    # Only this step changes the session's cost while it runs.
                    "total_cost_usd": round(session.cost_usd + cost, 6),
                },
            )
            return message, (response.usage, cost)
        return message, None

    async def _budget_pause(self, session: Session, state: TurnState, env: SessionEnv, budget: float) -> StepResult:
        approval_id = f"budget-t{state.turn}-{int(session.cost_usd * 1e6)}"
        existing = await self.store.get_approval(session.id, approval_id)
        if existing is not None and existing.status != "pending" and tracing.enabled():
            tracing.tracer().record(
                "dexa.approval_wait",
                start=existing.created_at,
                end=existing.decided_at or time.time(),
                attrs={
                    "dexa.approval.id": existing.id,
                    "dexa.approval.kind": "budget",
                    "dexa.approval.decision": existing.status,
                    "dexa.approval.decided_by": existing.decided_by,
                },
            )
        if existing is not None and existing.status == "allowed":
            # Approved: raise the ceiling for this session by another budget's worth.
            cfg = replace(session.config, max_budget_usd=session.cost_usd + budget)
            fresh = await self.store.get_session(session.id)
            await self.store.update_session(replace(fresh, config=cfg))
            return "next"
        if (existing is not None and existing.status == "denied") or not env.can_prompt:
            return await self._finish(
                session,
                state,
                env,
                result="",
                subtype="error_max_budget_usd",
                error=f"Reached the session budget of ${budget:.2f} (spent ${session.cost_usd:.4f})",
            )
        if existing is None:
            await self.store.put_approval(
                Approval(
                    id=approval_id,
                    session_id=session.id,
                    tool_use_id="",
                    tool_name="",
                    input={},
                    kind="budget",
                    reason=f"Spent ${session.cost_usd:.4f} of a ${budget:.2f} budget. Continue?",
                    created_at=time.time(),
                )
            )
            await self.advance(session, state, status="paused")
            await self.emit(
                session.id,
                EventType.PERMISSION_REQUIRED,
                {
                    "approval_id": approval_id,
                    "kind": "budget",
                    "reason": f"Budget of ${budget:.2f} reached",
                    "cost_usd": session.cost_usd,
                },
            )
            await self.emit(session.id, EventType.TURN_PAUSED, {"turn": state.turn, "reason": "budget"})
        return "wait"

    async def compact(self, session: Session, env: SessionEnv, *, trigger: str = "manual") -> list[Message]:
        """Replace older history with a model-written summary, keeping the last few prompts verbatim."""
        messages = await self.store.list_messages(session.id)
        prompts = [i for i, m in enumerate(messages) if m.role == "user" and not m.tool_results]
        if len(prompts) <= KEEP_PROMPTS:
            cut = prompts[-1] if prompts else 0
        else:
            cut = prompts[-KEEP_PROMPTS]
        if cut <= 0:
            return messages
        if env.hooks is not None:
            await env.hooks.run(
                "PreCompact", self.hook_payload(session, env, "PreCompact", trigger=trigger), match=trigger
            )
        older, kept = messages[:cut], messages[cut:]
        request = ModelRequest(
            model=env.model.name,
            system="You write faithful, compact summaries of agent conversations.",
            messages=(*older, Message(id="compact-q", role="user", content=(TextBlock(text=SUMMARY_PROMPT),))),
            max_tokens=4096,
            response_id=f"compact-{int(time.time() * 1000)}",
        )
        response = await env.model.complete(request)
        n = len(await self.store.list_messages(session.id, include_hidden=True))
        tag = f"c{n}"
        summary = Message(
            id=f"{tag}-summary",
            role="user",
            synthetic=True,
            content=(
                TextBlock(
                    text=f"This session continues from an earlier conversation. Summary:\n{response.message.text}"
                ),
            ),
        )
        ack = Message(id=f"{tag}-ack", role="assistant", synthetic=True, content=(TextBlock(text="Understood."),))
        await self.store.hide_messages(session.id, [m.id for m in messages])
        await self.store.put_message(session.id, summary)
        await self.store.put_message(session.id, ack)
        # Kept messages are re-appended as copies so order stays summary-first; originals stay hidden for audit.
        for m in kept:
            await self.store.put_message(session.id, replace(m, id=f"{m.id}~{tag}"))
        await self.emit(
            session.id,
            EventType.COMPACTED,
            {"trigger": trigger, "summarized_messages": len(older), "kept_messages": len(kept)},
        )
        return await self.store.list_messages(session.id)
