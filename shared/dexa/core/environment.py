"""What one session runs with: model, tools, policy, hooks, workspace. Built by wiring, consumed by the engine."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from .ports import Checkpointer, HookOutcome, HookRunner, Model, PermissionDecision, PermissionPolicy, Workspace
from .session import Session
from .tools import ToolRegistry

CombineFn = Callable[[HookOutcome | None, PermissionDecision, str], PermissionDecision]


def default_combine(
    hook: HookOutcome | None, decision: PermissionDecision, mode: str = "default"
) -> PermissionDecision:
    """Claude Code precedence: a hook may tighten a decision, and may only loosen it when no deny rule matched."""
    if hook is None or hook.permission_decision is None:
        return decision
    if hook.permission_decision == "deny":
        return PermissionDecision(behavior="deny", rule="hook", source="PreToolUse", reason=hook.reason)
    if decision.behavior == "deny":
        return decision
    if hook.permission_decision == "ask":
        return PermissionDecision(behavior="ask", rule="hook", source="PreToolUse", reason=hook.reason)
    return PermissionDecision(behavior="allow", rule="hook", source="PreToolUse", reason=hook.reason)


@dataclass(slots=True, kw_only=True)
class SessionEnv:
    model: Model
    tools: ToolRegistry
    policy: PermissionPolicy
    workspace: Workspace
    system_prompt: str = ""
    hooks: HookRunner | None = None
    checkpointer: Checkpointer | None = None
    # Used while the session is in plan mode (the `opusplan`-style split); falls back to `model`.
    plan_model: Model | None = None
    context_window: int = 200_000
    max_output_tokens: int = 8192
    thinking_budget: int | None = None
    # False in headless runs with no approver: every "ask" becomes a reported denial, as in `claude -p`.
    can_prompt: bool = True
    budget_usd: float | None = None
    loop_threshold: int = 5
    network: bool = False
    allow_private_network: bool = False
    hosted: bool = False
    transcript_path: str = ""
    combine: CombineFn = default_combine
    # Called with rules an "always allow" added; the permission layer decides where they persist.
    on_always_allow: Callable[[str, Mapping[str, Any], list[str]], Awaitable[None]] | None = None
    services: dict[str, Any] = field(default_factory=dict[str, Any])
    startup_events: list[tuple[str, dict[str, Any]]] = field(default_factory=list[tuple[str, dict[str, Any]]])

    def model_for(self, permission_mode: str) -> Model:
        if permission_mode == "plan" and self.plan_model is not None:
            return self.plan_model
        return self.model


class EnvFactory(Protocol):
    async def env_for(self, session: Session) -> SessionEnv: ...

    async def release(self, session_id: str) -> None: ...
