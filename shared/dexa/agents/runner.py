"""Run a subagent as a child session driven by the turn engine, and relay its approvals through the parent.

A subagent is a `Session` with `parent_id` and its own message history (its own context window). The runner
creates it (deterministic id per parent tool call, so a crashed run resumes instead of starting over), submits the
task, and steps it until it finishes. When the child needs an approval, the runner mirrors it into the parent
session (`Approval(kind="subagent")` + `permission.required` carrying `child_session_id` and `child_approval_id`):
a client may answer either the mirror (`engine.resolve_approval(parent_id, mirror_id, ...)`, or
`runner.resolve_child_approval(parent_id, ...)`) or the child's own approval; the runner keeps both in step.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from dataclasses import dataclass, field, replace
from typing import Any

from dexa.core.engine import TurnEngine
from dexa.core.environment import EnvFactory
from dexa.core.errors import DexaError, NotFoundError
from dexa.core.events import EventType
from dexa.core.ports import Store
from dexa.core.session import Approval, Session
from dexa.core.tools import ToolContext, ToolOutput

from .builtin import DEFAULT_AGENT
from .child_env import SUBAGENT_KEY, SubagentEnvs, env_block, select_tools
from .definitions import AgentDefinition, AgentRegistry
from .relay import ApprovalRelay

logger = logging.getLogger(__name__)

KV_DONE = "subagent_done"
MAX_STOP_CONTINUATIONS = 8
# Parent modes that win over the agent's own permissionMode (reference §5.2).
_DOMINANT_MODES = frozenset({"bypassPermissions", "acceptEdits"})


def child_session_id(parent_id: str, tool_use_id: str) -> str:
    return "sub_" + hashlib.sha256(f"{parent_id}:{tool_use_id}".encode()).hexdigest()[:20]


def error(message: str, **data: Any) -> ToolOutput:
    return ToolOutput(content=message, is_error=True, data=data)


@dataclass(slots=True)
class SubagentRunner:
    agents: AgentRegistry
    # Skill bodies a definition's `skills:` field preloads into the child's system prompt.
    skill_bodies: dict[str, str] = field(default_factory=dict)
    # CLAUDE_CODE_SUBAGENT_MODEL: one model for every subagent.
    subagent_model: str | None = None
    # CLAUDE.md memory for custom and general-purpose subagents (the built-in Plan agent skips it, as in Claude Code).
    memory_text: str = ""
    poll_s: float = 0.5
    engine: TurnEngine | None = None
    child_engine: TurnEngine | None = None
    parent_envs: EnvFactory | None = None
    store: Store | None = None
    # Children whose turn was cancelled along with the parent's (their result is not a final answer).
    cancelled: set[str] = field(default_factory=set)

    def bind(self, engine: TurnEngine, env_factory: EnvFactory | None = None, store: Store | None = None) -> None:
        """Attach the engine after wiring built it. Children run on the same store, notifier and redactor."""
        self.engine = engine
        self.store = store or engine.store
        self.parent_envs = env_factory or engine.envs
        if isinstance(engine.envs, SubagentEnvs):
            self.child_engine = engine
        else:
            self.child_engine = TurnEngine(
                self.store, SubagentEnvs(self.parent_envs), notifier=engine.notifier, redactor=engine.redactor
            )

    def _bound(self) -> tuple[TurnEngine, TurnEngine, EnvFactory, Store]:
        if self.engine is None or self.child_engine is None or self.parent_envs is None or self.store is None:
            raise DexaError("SubagentRunner.bind(engine, env_factory, store) was never called", code="config_error")
        return self.engine, self.child_engine, self.parent_envs, self.store

    # ------------------------------------------------------------ launch

    async def run_task(
        self,
        ctx: ToolContext,
        *,
        prompt: str,
        subagent_type: str | None,
        description: str = "",
        model: str | None = None,
        mode: str | None = None,
    ) -> ToolOutput:
        """Run (or resume) the subagent for this tool call and return its final text as the tool result."""
        _, child_engine, envs, store = self._bound()
        parent = await store.get_session(ctx.session_id)
        if parent.config.extra.get(SUBAGENT_KEY):
            return error("Subagents cannot spawn subagents: the Task tool is not available inside a subagent.")
        agent_type = subagent_type or DEFAULT_AGENT
        agent = self.agents.get(agent_type)
        if agent is None:
            return error(f"Agent type '{agent_type}' not found. Available agents: {', '.join(self.agents.names())}")
        child_id = child_session_id(parent.id, ctx.tool_use_id)
        child = await _get(store, child_id)
        started = time.time()
        if child is None:
            parent_env = await envs.env_for(parent)
            tools = select_tools(parent_env.tools.names(), agent.tools, agent.disallowed_tools)
            if agent.tools is not None and not tools:
                return error(f"Agent '{agent.name}' has no usable tools: none of {', '.join(agent.tools)} is available")
            child = await self._create(
                parent,
                agent,
                child_id,
                ctx.tool_use_id,
                prompt=prompt,
                description=description,
                model=model,
                mode=mode,
                tools=tools,
            )
            extra = await self._subagent_start_context(parent, agent, child_id)
            await child_engine.submit(child_id, prompt + (f"\n\n{extra}" if extra else ""))
        if child.turn_state is not None or child.turns_completed == 0:
            child = await self._drive(parent.id, child_id)
        child = await self._subagent_stop(parent, agent, child)
        return await self._complete(parent, agent, child, ctx.tool_use_id, started, prompt)

    async def _create(
        self,
        parent: Session,
        agent: AgentDefinition,
        child_id: str,
        tool_use_id: str,
        *,
        prompt: str,
        description: str,
        model: str | None,
        mode: str | None,
        tools: list[str],
    ) -> Session:
        engine, _, _, store = self._bound()
        spec = {
            "agent_type": agent.name,
            "parent_session_id": parent.id,
            "parent_tool_use_id": tool_use_id,
            "description": description,
            "tools": tools,
            "disallowed_tools": list(agent.disallowed_tools),
            "system_prompt": self._system_prompt(agent, parent.cwd),
        }
        config = replace(
            parent.config,
            max_turns=agent.max_turns,
            max_budget_usd=None,
            extra={**parent.config.extra, SUBAGENT_KEY: spec},
        )
        now = time.time()
        child = Session(
            id=child_id,
            org_id=parent.org_id,
            user_id=parent.user_id,
            cwd=parent.cwd,
            model=self._model(parent, agent, model),
            permission_mode=self._mode(parent, agent, mode),
            title=description or agent.name,
            created_at=now,
            updated_at=now,
            parent_id=parent.id,
            config=config,
        )
        await store.create_session(child)
        await engine.emit(
            child_id,
            EventType.SESSION_CREATED,
            {
                "cwd": child.cwd,
                "model": child.model,
                "permission_mode": child.permission_mode,
                "parent_id": parent.id,
                "agent_type": agent.name,
            },
        )
        await engine.emit(
            parent.id,
            EventType.SUBAGENT_STARTED,
            {
                "agent_id": child_id,
                "session_id": child_id,
                "agent_type": agent.name,
                "description": description,
                "prompt": prompt,
                "parent_tool_use_id": tool_use_id,
                "model": child.model,
                "permission_mode": child.permission_mode,
                "tools": tools,
            },
        )
        return child

    def _system_prompt(self, agent: AgentDefinition, cwd: str) -> str:
        parts = [agent.prompt or f"You are the {agent.name} subagent. {agent.description}"]
        for name in agent.skills:
            body = self.skill_bodies.get(name)
            if body:
                parts.append(f'<skill name="{name}">\n{body}\n</skill>')
        if self.memory_text and not (agent.source == "builtin" and agent.name == "Plan"):
            parts.append(self.memory_text)
        parts.append(env_block(cwd))
        return "\n\n".join(parts)

    def _model(self, parent: Session, agent: AgentDefinition, requested: str | None) -> str:
        return self.subagent_model or requested or agent.model or parent.model

    @staticmethod
    def _mode(parent: Session, agent: AgentDefinition, requested: str | None) -> str:
        if agent.source == "builtin" and agent.permission_mode == "plan":
            return "plan"  # the built-in Plan agent stays read-only whatever the parent allows
        if parent.permission_mode in _DOMINANT_MODES or parent.permission_mode == "plan":
            return parent.permission_mode
        return requested or agent.permission_mode or parent.permission_mode

    async def _subagent_start_context(self, parent: Session, agent: AgentDefinition, child_id: str) -> str:
        engine, _, envs, _ = self._bound()
        env = await envs.env_for(parent)
        if env.hooks is None:
            return ""
        outcome = await env.hooks.run(
            "SubagentStart",
            engine.hook_payload(parent, env, "SubagentStart", agent_id=child_id, agent_type=agent.name),
            match=agent.name,
        )
        return outcome.additional_context

    # ------------------------------------------------------------ drive

    async def _drive(self, parent_id: str, child_id: str) -> Session:
        _, child_engine, _, store = self._bound()
        relayed: set[str] = set()
        try:
            while True:
                parent = await store.get_session(parent_id)
                if parent.cancel_requested:
                    self.cancelled.add(child_id)
                    await child_engine.finish_cancelled(child_id)
                    break
                try:
                    result = await child_engine.step(child_id)
                except DexaError as exc:
                    logger.exception("subagent %s step failed", child_id)
                    await child_engine.fail_turn(child_id, subtype="error_during_execution", error=str(exc))
                    break
                if result == "done":
                    break
                if result == "wait":
                    relay = self._relay()
                    await relay.relay(parent_id, child_id, relayed)
                    await self._wait(parent_id, child_id)
                    await relay.sync(parent_id, child_id, relayed)
        except asyncio.CancelledError:
            self.cancelled.add(child_id)
            await asyncio.shield(child_engine.finish_cancelled(child_id))
            raise
        return await store.get_session(child_id)

    async def _wait(self, parent_id: str, child_id: str) -> None:
        engine, _, _, _ = self._bound()
        waits = [
            asyncio.create_task(engine.notifier.wait(f"approval:{sid}", self.poll_s)) for sid in (parent_id, child_id)
        ]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in waits:
                task.cancel()
            await asyncio.gather(*waits, return_exceptions=True)

    # ------------------------------------------------------------ approvals

    def _relay(self) -> ApprovalRelay:
        engine, child_engine, _, store = self._bound()
        return ApprovalRelay(engine, child_engine, store)

    async def resolve_child_approval(
        self,
        parent_session_id: str,
        approval_id: str,
        *,
        allow: bool,
        scope: str = "once",
        by: str = "",
        message: str = "",
        updated_input: dict[str, Any] | None = None,
    ) -> tuple[Approval, bool]:
        """Answer a subagent's approval from the parent session (by mirror id or the child's approval id).

        Raises NotFoundError when no subagent approval with that id was relayed into the parent.
        """
        return await self._relay().resolve(
            parent_session_id,
            approval_id,
            allow=allow,
            scope=scope,
            by=by,
            message=message,
            updated_input=updated_input,
        )

    # ------------------------------------------------------------ finish

    async def _subagent_stop(self, parent: Session, agent: AgentDefinition, child: Session) -> Session:
        """SubagentStop hooks may send the subagent back to work (their reason is its next instruction)."""
        engine, child_engine, envs, _ = self._bound()
        env = await envs.env_for(parent)
        if env.hooks is None:
            return child
        active = False
        for _ in range(MAX_STOP_CONTINUATIONS):
            if child.status != "idle" or child.id in self.cancelled:
                break
            outcome = await env.hooks.run(
                "SubagentStop",
                engine.hook_payload(
                    parent,
                    env,
                    "SubagentStop",
                    stop_hook_active=active,
                    agent_id=child.id,
                    agent_type=agent.name,
                    agent_transcript_path="",
                    last_assistant_message=child.result,
                    background_tasks=[],
                    session_crons=[],
                ),
                match=agent.name,
            )
            if not (outcome.blocked and outcome.reason):
                break
            active = True
            await engine.emit(
                parent.id,
                EventType.HOOK,
                {"event": "SubagentStop", "blocked": True, "reason": outcome.reason, "agent_id": child.id},
            )
            await child_engine.submit(child.id, f"SubagentStop hook feedback:\n{outcome.reason}")
            child = await self._drive(parent.id, child.id)
        return child

    async def _complete(
        self, parent: Session, agent: AgentDefinition, child: Session, tool_use_id: str, started: float, prompt: str
    ) -> ToolOutput:
        engine, child_engine, _, store = self._bound()
        records = await store.list_tool_records(child.id)
        ok = child.status == "idle" and not child.error and child.id not in self.cancelled
        data: dict[str, Any] = {
            "status": "completed" if ok else "failed",
            "agentId": child.id,
            "agentType": agent.name,
            "content": [{"type": "text", "text": child.result}],
            "resolvedModel": child.model,
            "totalToolUseCount": len(records),
            "totalDurationMs": int((time.time() - started) * 1000),
            "totalTokens": child.usage.input_tokens + child.usage.output_tokens,
            "usage": child.usage.to_dict(),
            "prompt": prompt,
        }
        if await store.kv_put_if_absent(KV_DONE, child.id, {"at": time.time()}):
            fresh = await store.get_session(parent.id)
            # Budgets and /cost count what subagents spend.
            await store.update_session(
                replace(fresh, usage=fresh.usage + child.usage, cost_usd=fresh.cost_usd + child.cost_usd)
            )
            await engine.emit(
                parent.id,
                EventType.SUBAGENT_COMPLETED,
                {
                    "agent_id": child.id,
                    "session_id": child.id,
                    "agent_type": agent.name,
                    "parent_tool_use_id": tool_use_id,
                    "status": data["status"],
                    "result": child.result,
                    "error": child.error,
                    "usage": data["usage"],
                    "cost_usd": round(child.cost_usd, 6),
                    "total_tool_use_count": len(records),
                    "duration_ms": data["totalDurationMs"],
                },
            )
            await child_engine.envs.release(child.id)
        if not ok:
            reason = child.error or (
                "it was cancelled" if child.id in self.cancelled else f"it ended with status {child.status}"
            )
            return error(f"Subagent {agent.name} did not finish: {reason}", **data)
        return ToolOutput(content=child.result or "(the subagent returned no text)", data=data)


async def _get(store: Store, session_id: str) -> Session | None:
    try:
        return await store.get_session(session_id)
    except NotFoundError:
        return None
