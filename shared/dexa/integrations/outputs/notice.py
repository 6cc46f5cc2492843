"""What the agent is told about a decided output: the tool result of a blocking output, or the note a non-blocking
output leaves for the session's next turn. One wording for both, so the agent reads the same facts either way."""

from __future__ import annotations

import json

from .models import PendingOutput

LIMIT = 4000


def _clip(text: str) -> str:
    return text if len(text) <= LIMIT else text[: LIMIT - 1] + "…"


def decision_text(output: PendingOutput) -> str:
    name = output.exposed_name or f"{output.server}.{output.tool}"
    who = output.decided_by or "a reviewer"
    head = f"{name} staged as {output.id} ({output.target or output.kind})"
    if output.status == "rejected":
        why = f" Reason: {output.reason}" if output.reason else ""
        return f"{head} was rejected by {who}. It was NOT sent or applied.{why}"
    edited = ""
    if output.edited:
        edited = " with edits (" + json.dumps(output.changes, sort_keys=True, default=str) + ")"
    if output.status == "failed":
        return _clip(f"{head} was approved by {who}{edited}, but executing it failed: {output.error}")
    if output.status == "executed":
        content = str((output.result or {}).get("content", "")) or "(no output)"
        return _clip(f"{head} was approved by {who}{edited} and executed exactly once. Result: {content}")
    return f"{head} is {output.status}."


def decided_ok(output: PendingOutput) -> bool:
    return output.status == "executed"
