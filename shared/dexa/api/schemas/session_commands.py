"""Bodies and answers of the interactive clients' session commands (/compact, /model, /mcp, custom commands)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from .common import Body


class CommandCreate(Body):
    command: str = Field(
        min_length=2, max_length=200_000, description="`/name args`: a custom command or skill of the session's project"
    )


class ModelChange(Body):
    model: str = Field(min_length=1, max_length=200, description="An alias (sonnet, opus, haiku) or a model id")


class CompactPublic(BaseModel):
    compacted: bool = Field(description="False when the history was too short to summarise")
    summarized_messages: int
    kept_messages: int
    messages: int = Field(description="Visible messages after compaction")


class McpServerPublic(BaseModel):
    name: str
    status: str = Field(description="connected | failed | pending | closed")
    source: str = Field(description="The configuration scope it came from")
    tools: list[str] = Field(default_factory=list)
    error: str = ""


class McpServersPublic(BaseModel):
    data: list[McpServerPublic]
    count: int
