"""Moving sessions between homes: export tokens and the session document (dexa.transfer.bundle)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from .common import Body


class ExportTokenCreate(Body):
    ttl_s: int = Field(default=900, ge=60, le=3600, description="How long the token lives (default 15 minutes)")


class ExportTokenPublic(BaseModel):
    token: str = Field(description="Reads this session's export, and nothing else, until `expires_at`")
    session_id: str
    expires_at: float
    command: str = Field(description="`dexa pull SESSION --server URL --token T`, ready to paste")


class SessionBundle(BaseModel):
    """A session as one document (format `dexa.session/1`): see dexa.transfer.bundle for each field."""

    model_config = ConfigDict(extra="forbid")

    format: str = Field(max_length=40)
    session: dict[str, Any]
    messages: list[dict[str, Any]] = Field(default_factory=list[dict[str, Any]])
    events: list[dict[str, Any]] = Field(default_factory=list[dict[str, Any]])
    approvals: list[dict[str, Any]] = Field(default_factory=list[dict[str, Any]])
    permissions: dict[str, Any] = Field(default_factory=dict[str, Any])
    tool_state: dict[str, Any] = Field(default_factory=dict[str, Any])
    checkpoints: list[dict[str, Any]] = Field(default_factory=list[dict[str, Any]])
    blobs: dict[str, str] = Field(default_factory=dict[str, str], description="sha256 digest -> base64 content")
    workspace: dict[str, Any] = Field(
        description="kind (git|tree), branch, head, bundle (base64 git bundle), files (the overlay), deleted, modes"
    )
