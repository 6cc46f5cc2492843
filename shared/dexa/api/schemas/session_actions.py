"""What is done to one session: message, mode and fork bodies, its tools, todo list and artifacts, and rewind.
Apart from dexa.api.schemas.sessions (which re-exports them) so that creating or listing sessions builds none."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .approvals import OutputPublic
from .common import ID_PATTERN, Body, Mode
from .sessions import SessionPublic


class MessageCreate(Body):
    prompt: str = Field(min_length=1, max_length=200_000)


class TurnAccepted(BaseModel):
    session: SessionPublic
    turn: int


class ModeChange(Body):
    mode: Mode


class ForkCreate(Body):
    title: str | None = Field(default=None, max_length=200)
    message_id: str | None = Field(
        default=None, pattern=ID_PATTERN, description="Copy history up to and including this message (default: all)"
    )


class ToolsPublic(BaseModel):
    tools: list[str]


class TodoItem(BaseModel):
    """Claude Code's TodoWrite item; unknown fields are passed through."""

    model_config = ConfigDict(extra="allow")

    content: str
    status: str
    activeForm: str | None = None


class TodoPublic(BaseModel):
    todos: list[TodoItem]


class DiffArtifact(BaseModel):
    seq: int
    tool_use_id: str
    tool: str
    path: str
    diff: str


class CommandArtifact(BaseModel):
    seq: int
    tool_use_id: str
    command: str
    output: str
    is_error: bool
    status: str


class ArtifactsPublic(BaseModel):
    diffs: list[DiffArtifact]
    commands: list[CommandArtifact]
    outputs: list[OutputPublic]


class RewindCreate(Body):
    checkpoint_id: str = Field(pattern=ID_PATTERN)
    mode: Literal["conversation", "code", "both"] = "both"
    on_conflict: Literal["ask", "overwrite", "keep_copy"] = "ask"


class CheckpointPublic(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str
    created_at: float | None = None
    reason: str | None = None
    message_id: str | None = None


class CheckpointsPublic(BaseModel):
    data: list[CheckpointPublic]
    count: int


class RewindPublic(BaseModel):
    checkpoint_id: str
    mode: str
    on_conflict: str
    details: dict[str, Any] = Field(default_factory=dict, description="The rewinder's report, passed through")
