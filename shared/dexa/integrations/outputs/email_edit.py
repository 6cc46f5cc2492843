"""Editing an email in review when the agent sends a draft: `send_draft(draft_id)` carries no content, so a reviewer
sees (and may edit) the draft's recipients, subject and body; an edited send executes as a new draft with exactly
the approved content, in the same thread, which is then sent. The original draft is left as it was."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from dexa.core.errors import ToolError

from .executor import OutputExecutor, structured_of
from .models import PendingOutput

FIELDS = ("to", "cc", "subject", "body")


def _draft_send(output: PendingOutput) -> bool:
    return output.kind == "email" and output.tool == "send_draft"


def reviewable(output: PendingOutput) -> dict[str, Any]:
    """The arguments a reviewer sees and may edit (a draft's send: with the draft's content)."""
    args = dict(output.arguments)
    if _draft_send(output):
        lookup = dict(output.context.get("lookup") or {})
        for key in FIELDS:
            if key in lookup:
                args.setdefault(key, lookup[key])
    return args


def rewrites(output: PendingOutput, arguments: Mapping[str, Any]) -> bool:
    return _draft_send(output) and any(key in arguments for key in FIELDS)


async def send_edited(executor: OutputExecutor, output: PendingOutput, arguments: Mapping[str, Any]) -> dict[str, Any]:
    """Create the approved draft, then send it. Raises ToolError when either step fails."""
    lookup = dict(output.context.get("lookup") or {})
    content: dict[str, Any] = {
        "to": list(arguments.get("to") or []),
        "subject": str(arguments.get("subject") or ""),
        "body": str(arguments.get("body") or ""),
        "cc": list(arguments.get("cc") or []),
    }
    if lookup.get("thread_id"):
        content["thread_id"] = lookup["thread_id"]
    created = await executor.execute(replace(output, tool="create_draft"), content)
    draft_id = structured_of(created).get("id")
    if not draft_id:
        raise ToolError(f"output {output.id}: the edited draft was not created ({created.get('content', '')})")
    sent = await executor.execute(output, {"draft_id": draft_id})
    return {**sent, "edited_draft_id": draft_id}
