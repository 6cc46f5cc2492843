"""Shared body shapes: usage, health, the caller, the SSE frame and event documents."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Mode = Literal["default", "acceptEdits", "plan", "bypassPermissions", "dontAsk"]
MODES: tuple[str, ...] = ("default", "acceptEdits", "plan", "bypassPermissions", "dontAsk")

# Ids are opaque strings from our own generators; bounding them keeps junk from reaching the store.
ID_PATTERN = r"^[A-Za-z0-9_.:-]{1,128}$"


class Body(BaseModel):
    """Request bodies reject unknown fields so typos surface as 422 instead of being ignored."""

    model_config = ConfigDict(extra="forbid")


class UsagePublic(BaseModel):
    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0


class HealthPublic(BaseModel):
    status: Literal["ok"] = "ok"
    version: str
    time: float


class PrincipalPublic(BaseModel):
    org_id: str
    user_id: str
    role: Literal["admin", "member", "reviewer"]
    key_id: str
    scopes: list[str]


class EventPublic(BaseModel):
    """One entry of a session's event log (the JSON carried in each SSE `data:` line)."""

    session_id: str
    seq: int = Field(ge=1)
    type: str
    data: dict[str, Any]
    ts: float


class SseFrame(BaseModel):
    """One server-sent event as a client parses it: `id` is the event's seq, `event` its type."""

    id: str = Field(pattern=r"^[0-9]+$")
    event: str
    data: str = Field(description="An EventPublic as JSON")
    retry: int | None = None
