"""Session bodies: create, public view and list. What is done to one session (messages, mode, fork, tools, todo,
artifacts, rewind) has its bodies in dexa.api.schemas.session_actions: a pydantic model is built when its class is
created, and GET /sessions (a cold API's most common first request) needs only these."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from dexa.core.session import Session, SessionConfig

from .common import Body, Mode, UsagePublic

__all__ = ["SessionConfigPublic", "SessionCreate", "SessionPublic", "SessionsPublic"]

ToolRule = Field(min_length=1, max_length=500)


class SessionCreate(Body):
    prompt: str | None = Field(
        default=None, min_length=1, max_length=200_000, description="Starts the first turn right away when given"
    )
    cwd: str | None = Field(
        default=None,
        min_length=1,
        max_length=4096,
        description="Working directory on the server (default: the server's)",
    )
    model: str | None = Field(default=None, min_length=1, max_length=200)
    permission_mode: Mode = "default"
    title: str = Field(default="", max_length=200)
    sources: list[str] = Field(
        default_factory=list,
        max_length=50,
        description="Integration ids the session may use; empty lets the agent choose",
    )
    allowed_tools: list[str] = Field(default_factory=list, max_length=200)
    disallowed_tools: list[str] = Field(default_factory=list, max_length=200)
    tools: list[str] | None = Field(default=None, max_length=200, description="Restrict the built-in tool set")
    append_system_prompt: str = Field(default="", max_length=100_000)
    system_prompt: str | None = Field(default=None, max_length=200_000)
    max_turns: int | None = Field(default=None, ge=1, le=10_000)
    max_budget_usd: float | None = Field(default=None, gt=0, le=1_000_000)
    network: bool = False
    headless: bool = Field(default=False, description="No approver: every 'ask' becomes a reported denial")

    def to_config(self) -> SessionConfig:
        return SessionConfig(
            allowed_tools=tuple(self.allowed_tools),
            disallowed_tools=tuple(self.disallowed_tools),
            tools=None if self.tools is None else tuple(self.tools),
            append_system_prompt=self.append_system_prompt,
            system_prompt=self.system_prompt,
            max_turns=self.max_turns,
            max_budget_usd=self.max_budget_usd,
            network=self.network,
            sources=tuple(self.sources),
            headless=self.headless,
        )


class SessionConfigPublic(BaseModel):
    allowed_tools: list[str]
    disallowed_tools: list[str]
    tools: list[str] | None
    sources: list[str]
    append_system_prompt: str
    max_turns: int | None
    max_budget_usd: float | None
    network: bool
    headless: bool


class SessionPublic(BaseModel):
    id: str
    org_id: str
    user_id: str
    cwd: str
    model: str
    permission_mode: str
    title: str
    status: Literal["idle", "running", "waiting", "paused", "completed", "failed", "cancelled"]
    created_at: float
    updated_at: float
    turn: int | None = Field(description="The turn in flight, if any")
    step: str | None = Field(description="The durable step the turn is at, if any")
    turns_completed: int
    usage: UsagePublic
    cost_usd: float
    parent_id: str | None
    result: str
    error: str
    running: bool = Field(description="A driver is working on this session in this server right now")
    last_seq: int = Field(ge=0, description="The newest event's seq; attach with ?after= to skip history")
    checkpoint_bytes: int = Field(
        default=0, ge=0, description="Bytes this session's checkpoints added to the blob store (content is shared)"
    )
    config: SessionConfigPublic

    @staticmethod
    def of(s: Session, *, running: bool, last_seq: int, checkpoint_bytes: int = 0) -> SessionPublic:
        c = s.config
        return SessionPublic(
            id=s.id,
            org_id=s.org_id,
            user_id=s.user_id,
            cwd=s.cwd,
            model=s.model,
            permission_mode=s.permission_mode,
            title=s.title,
            status=s.status,
            created_at=s.created_at,
            updated_at=s.updated_at,
            turn=s.turn_state.turn if s.turn_state else None,
            step=s.turn_state.step if s.turn_state else None,
            turns_completed=s.turns_completed,
            usage=UsagePublic(**s.usage.to_dict()),
            cost_usd=s.cost_usd,
            parent_id=s.parent_id,
            result=s.result,
            error=s.error,
            running=running,
            last_seq=last_seq,
            checkpoint_bytes=checkpoint_bytes,
            config=SessionConfigPublic(
                allowed_tools=list(c.allowed_tools),
                disallowed_tools=list(c.disallowed_tools),
                tools=None if c.tools is None else list(c.tools),
                sources=list(c.sources),
                append_system_prompt=c.append_system_prompt,
                max_turns=c.max_turns,
                max_budget_usd=c.max_budget_usd,
                network=c.network,
                headless=c.headless,
            ),
        )


class SessionsPublic(BaseModel):
    data: list[SessionPublic]
    count: int
