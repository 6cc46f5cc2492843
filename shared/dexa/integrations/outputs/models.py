"""PendingOutput: a side-effecting business action the agent asked for, held for a human (or policy) to decide."""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

OutputStatus = Literal["pending", "approved", "rejected", "executed", "failed"]
# blocking: the agent's turn waits for the decision and continues with the result as the tool result;
# non_blocking: the agent is told "staged as out_...", goes on, and hears of the decision at its next turn.
OutputMode = Literal["blocking", "non_blocking"]
OUTPUT_MODES: frozenset[str] = frozenset({"blocking", "non_blocking"})
TERMINAL_STATUSES = frozenset({"rejected", "executed", "failed"})
NAMESPACE = "outputs"
DECISIONS_NAMESPACE = "outputs_decisions"
EXECUTIONS_NAMESPACE = "outputs_executions"
LEDGER_NAMESPACE = "side_effects"


def new_output_id() -> str:
    return "out_" + secrets.token_hex(10)


def args_hash(arguments: dict[str, Any]) -> str:
    """Pins the exact arguments a reviewer saw; the executed call must match it."""
    return hashlib.sha256(json.dumps(arguments, sort_keys=True, default=str).encode()).hexdigest()


@dataclass(frozen=True, slots=True, kw_only=True)
class PendingOutput:
    id: str
    org_id: str
    session_id: str
    tool_use_id: str
    server: str
    tool: str
    exposed_name: str
    # Output type: "email", "calendar_invite", "crm_update", "chat_message", "ticket_comment", "ticket", "mcp_call".
    kind: str
    arguments: dict[str, Any]
    args_hash: str
    preview: str
    target: str = ""
    recipients: tuple[str, ...] = ()
    integration_id: str | None = None
    server_kind: str = ""
    status: OutputStatus = "pending"
    # What decided to stage or auto-apply (the policy rule), for audit.
    policy: str = ""
    auto: bool = False
    context: dict[str, Any] = field(default_factory=dict)
    created_at: float = 0.0
    decided_by: str | None = None
    decided_at: float | None = None
    reason: str = ""
    edited: bool = False
    final_arguments: dict[str, Any] | None = None
    final_hash: str | None = None
    executed_at: float | None = None
    result: dict[str, Any] | None = None
    error: str = ""
    mode: OutputMode = "non_blocking"
    # How the control plane reconnects to a third-party server to execute it (no secret values: see connections.py).
    connection: dict[str, Any] | None = None
    # What a reviewer's edit changed ({field: {"from": old, "to": new}}), for the ledger and the agent.
    changes: dict[str, Any] = field(default_factory=dict)
    # The user the session acted for (who started it, or who asked a trigger): picks the integration's grant.
    requested_by: str = ""
    # Whose grant executed it ("org" or "user:<id>", see integrations/grants.py); set when it runs.
    grant_owner: str = ""

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["recipients"] = list(self.recipients)
        return data

    @staticmethod
    def from_dict(data: dict[str, Any]) -> PendingOutput:
        values = dict(data)
        values["recipients"] = tuple(values.get("recipients") or ())
        known = set(PendingOutput.__dataclass_fields__)
        return PendingOutput(**{k: v for k, v in values.items() if k in known})

    def summary(self) -> dict[str, Any]:
        """What a review list shows: no full arguments."""
        return {
            "id": self.id,
            "kind": self.kind,
            "status": self.status,
            "target": self.target,
            "recipients": list(self.recipients),
            "preview": self.preview,
            "session_id": self.session_id,
            "server": self.server,
            "tool": self.tool,
            "created_at": self.created_at,
            "mode": self.mode,
        }
