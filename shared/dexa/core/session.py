"""Sessions and the durable records that hang off them (tool executions, approvals)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from .messages import Usage

SessionStatus = Literal["idle", "running", "waiting", "paused", "completed", "failed", "cancelled"]
TurnStep = Literal["begin_turn", "call_model", "decide_tools", "await_approval", "run_tools", "end_turn"]
ToolStatus = Literal["requested", "allowed", "denied", "waiting", "running", "done", "failed", "interrupted"]
ApprovalStatus = Literal["pending", "allowed", "denied"]

TERMINAL_TOOL_STATUSES: frozenset[str] = frozenset({"denied", "done", "failed", "interrupted"})


@dataclass(frozen=True, slots=True, kw_only=True)
class TurnState:
    """The tiny state passed between durable steps; everything else lives in the store."""

    turn: int
    step: TurnStep
    prompt_message_id: str = ""
    model_calls: int = 0
    stop_hook_active: bool = False
    stop_continuations: int = 0  # consecutive Stop-hook blocks this turn (Claude Code forces a stop after 8)
    started_at: float = 0.0
    # W3C traceparents (dexa.core.tracing.reserve): the turn span, whose id is chosen at submit so steps run in any
    # process can be its children, and that span's parent (the API request that submitted it). "" = not traced.
    trace: str = ""
    trace_parent: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "turn": self.turn,
            "step": self.step,
            "prompt_message_id": self.prompt_message_id,
            "model_calls": self.model_calls,
            "stop_hook_active": self.stop_hook_active,
            "stop_continuations": self.stop_continuations,
            "started_at": self.started_at,
            "trace": self.trace,
            "trace_parent": self.trace_parent,
        }

    @staticmethod
    def from_dict(data: dict[str, Any]) -> TurnState:
        return TurnState(
            turn=int(data["turn"]),
            step=data["step"],
            prompt_message_id=str(data.get("prompt_message_id", "")),
            model_calls=int(data.get("model_calls", 0)),
            stop_hook_active=bool(data.get("stop_hook_active", False)),
            stop_continuations=int(data.get("stop_continuations", 0)),
            started_at=float(data.get("started_at", 0.0)),
            trace=str(data.get("trace") or ""),
            trace_parent=str(data.get("trace_parent") or ""),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionConfig:
    """Per-session knobs chosen at creation (CLI flags, API body). Settings files add to these at run time."""

    allowed_tools: tuple[str, ...] = ()
    disallowed_tools: tuple[str, ...] = ()
    tools: tuple[str, ...] | None = None
    add_dirs: tuple[str, ...] = ()
    settings_files: tuple[str, ...] = ()
    append_system_prompt: str = ""
    system_prompt: str | None = None
    max_turns: int | None = None
    max_budget_usd: float | None = None
    network: bool = False
    unsandboxed: bool = False
    sources: tuple[str, ...] = ()
    mcp_config: tuple[str, ...] = ()
    strict_mcp_config: bool = False
    headless: bool = False
    extra: dict[str, Any] = field(default_factory=dict[str, Any])

    def to_dict(self) -> dict[str, Any]:
        return {
            "allowed_tools": list(self.allowed_tools),
            "disallowed_tools": list(self.disallowed_tools),
            "tools": None if self.tools is None else list(self.tools),
            "add_dirs": list(self.add_dirs),
            "settings_files": list(self.settings_files),
            "append_system_prompt": self.append_system_prompt,
            "system_prompt": self.system_prompt,
            "max_turns": self.max_turns,
            "max_budget_usd": self.max_budget_usd,
            "network": self.network,
            "unsandboxed": self.unsandboxed,
            "sources": list(self.sources),
            "mcp_config": list(self.mcp_config),
            "strict_mcp_config": self.strict_mcp_config,
            "headless": self.headless,
            "extra": self.extra,
        }

    @staticmethod
    def from_dict(data: dict[str, Any]) -> SessionConfig:
        tools = data.get("tools")
        return SessionConfig(
            allowed_tools=tuple(data.get("allowed_tools", ())),
            disallowed_tools=tuple(data.get("disallowed_tools", ())),
            tools=None if tools is None else tuple(tools),
            add_dirs=tuple(data.get("add_dirs", ())),
            settings_files=tuple(data.get("settings_files", ())),
            append_system_prompt=str(data.get("append_system_prompt", "")),
            system_prompt=data.get("system_prompt"),
            max_turns=data.get("max_turns"),
            max_budget_usd=data.get("max_budget_usd"),
            network=bool(data.get("network", False)),
            unsandboxed=bool(data.get("unsandboxed", False)),
            sources=tuple(data.get("sources", ())),
            mcp_config=tuple(data.get("mcp_config", ())),
            strict_mcp_config=bool(data.get("strict_mcp_config", False)),
            headless=bool(data.get("headless", False)),
            extra=dict(data.get("extra", {})),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Session:
    id: str
    org_id: str
    user_id: str
    cwd: str
    model: str
    permission_mode: str = "default"
    title: str = ""
    status: SessionStatus = "idle"
    created_at: float = 0.0
    updated_at: float = 0.0
    turn_state: TurnState | None = None
    turns_completed: int = 0
    usage: Usage = field(default_factory=Usage)
    cost_usd: float = 0.0
    cancel_requested: bool = False
    parent_id: str | None = None
    config: SessionConfig = field(default_factory=SessionConfig)
    result: str = ""
    error: str = ""
    # Bumped on every write; stores use it for optimistic concurrency.
    version: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolRecord:
    """One tool call's execution record: requested -> (allowed|waiting) -> running -> done|failed|interrupted."""

    session_id: str
    tool_use_id: str
    name: str
    input: dict[str, Any]
    turn: int
    status: ToolStatus = "requested"
    decision: dict[str, Any] = field(default_factory=dict[str, Any])
    result: dict[str, Any] | None = None
    created_at: float = 0.0
    updated_at: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Approval:
    id: str
    session_id: str
    tool_use_id: str
    tool_name: str
    input: dict[str, Any]
    reason: str = ""
    rule: str | None = None
    source: str | None = None
    kind: str = "tool"
    status: ApprovalStatus = "pending"
    scope: str = "once"
    decided_by: str | None = None
    message: str = ""
    created_at: float = 0.0
    decided_at: float | None = None
    task_token: str | None = None
    suggestions: list[str] = field(default_factory=list[str])
