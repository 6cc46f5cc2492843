"""Bodies and answers of MCP server management for a session (add, remove, authenticate)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from .common import Body
from .session_commands import McpServerPublic

McpScopeName = Literal["local", "project", "user"]
MCP_NAME_PATTERN = r"^[A-Za-z0-9_.-]{1,64}$"


class McpServerCreate(Body):
    name: str = Field(pattern=MCP_NAME_PATTERN, description="The server's name (its tools are mcp__<name>__<tool>)")
    scope: McpScopeName = Field(
        default="local",
        description="Where it is kept, as `claude mcp add -s` keeps it: local (this project, the org's home), "
        "project (.mcp.json in the working directory; held until the workspace is trusted) or user (every "
        "project of the org; admins only)",
    )
    config: dict[str, Any] = Field(
        description='The entry as in .mcp.json: {"type": "stdio", "command", "args", "env"} or '
        '{"type": "http" | "sse", "url", "headers"}'
    )


class McpServerChange(BaseModel):
    name: str
    scope: McpScopeName
    file: str = Field(description="The file that changed")
    reloaded: bool = Field(
        description="True: the session's environment was rebuilt, so the change is live; False: a turn, a "
        "background job or a terminal is running, and the change applies from the session's next environment"
    )
    server: McpServerPublic | None = Field(
        default=None, description="After an add that reloaded: the server's status (connected, or failed and why)"
    )
    detail: str = Field(default="", description="Why the session does not show the server yet, when it does not")


class McpAuthCreate(Body):
    grant_for: Literal["me", "org"] | None = Field(
        default=None,
        alias="for",
        description="org: the org's shared grant (a key that may manage integrations); me: your own account. "
        "Default: org for a caller who may manage integrations (unless the policy is user_only), else me",
    )


class McpAuthStarted(BaseModel):
    authorize_url: str = Field(description="Open it in a browser; the provider redirects to /oauth/callback")
    integration_id: str = Field(description="The integration that holds the grant (created for this URL if needed)")
