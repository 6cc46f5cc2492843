"""The session event log: one append-only stream per session that every client reads.

Sequence numbers are contiguous from 1; the store enforces it with a conditional write.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    session_id: str
    seq: int
    type: str
    data: dict[str, Any] = field(default_factory=dict[str, Any])
    ts: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"session_id": self.session_id, "seq": self.seq, "type": self.type, "data": self.data, "ts": self.ts}


class EventType:
    """Every event type a client may see. Kept as constants so the API can publish the list."""

    SESSION_CREATED: Final = "session.created"
    SESSION_UPDATED: Final = "session.updated"
    SESSION_IDLE: Final = "session.idle"
    SESSION_ENDED: Final = "session.ended"
    SESSION_REWOUND: Final = "session.rewound"
    SESSION_FORKED: Final = "session.forked"
    TURN_STARTED: Final = "turn.started"
    TURN_COMPLETED: Final = "turn.completed"
    TURN_FAILED: Final = "turn.failed"
    TURN_CANCELLED: Final = "turn.cancelled"
    TURN_PAUSED: Final = "turn.paused"
    MESSAGE_USER: Final = "message.user"
    MESSAGE_ASSISTANT: Final = "message.assistant"
    TEXT_DELTA: Final = "message.delta"
    THINKING_DELTA: Final = "message.thinking_delta"
    MODEL_RETRY: Final = "model.retry"
    TOOL_REQUESTED: Final = "tool.requested"
    TOOL_STARTED: Final = "tool.started"
    TOOL_OUTPUT: Final = "tool.output"
    TOOL_COMPLETED: Final = "tool.completed"
    PERMISSION_REQUIRED: Final = "permission.required"
    PERMISSION_RESOLVED: Final = "permission.resolved"
    PERMISSION_MODE_CHANGED: Final = "permission.mode_changed"
    OUTPUT_STAGED: Final = "output.staged"
    OUTPUT_APPROVED: Final = "output.approved"
    OUTPUT_REJECTED: Final = "output.rejected"
    OUTPUT_EXECUTED: Final = "output.executed"
    CHECKPOINT_CREATED: Final = "checkpoint.created"
    TODO_UPDATED: Final = "todo.updated"
    SUBAGENT_STARTED: Final = "subagent.started"
    SUBAGENT_COMPLETED: Final = "subagent.completed"
    USAGE: Final = "usage"
    COMPACTED: Final = "context.compacted"
    HOOK: Final = "hook"
    MCP_NOTIFICATION: Final = "mcp.notification"
    CODE_REPO_ADDED: Final = "code.repo_added"
    CODE_BRANCH_PUSHED: Final = "code.branch_pushed"
    CODE_PULL_REQUESTS: Final = "code.pull_requests"
    CONFIG_ERROR: Final = "config.error"
    WARNING: Final = "warning"
    NETWORK: Final = "network.request"  # one request through the session's egress proxy (allowed or refused)
    ERROR: Final = "error"

    @classmethod
    def all(cls) -> list[str]:
        return sorted(v for k, v in vars(cls).items() if k.isupper() and isinstance(v, str))
