"""Executed business outputs in the session's side-effect ledger: a rewind lists the email or invite that went out
after its target checkpoint ("cannot be undone"), as it does an opened PR. Rejected and failed outputs did nothing
outside, so they are not listed."""

from __future__ import annotations

from typing import Any

from dexa.checkpoints import record_side_effect
from dexa.core.ports import KeyValueStore
from dexa.integrations.outputs.models import PendingOutput


def summary_of(output: PendingOutput) -> str:
    who = f" to {', '.join(output.recipients)}" if output.recipients else ""
    what = output.target or output.tool
    return f"{output.kind.replace('_', ' ')} {what}{who} was executed".strip()


def attach_output_ledger(integrations: Any, store: KeyValueStore) -> None:
    """After each decision the queue reports (dexa.wiring calls this once per runtime)."""

    async def record(output: PendingOutput) -> None:
        if output.status != "executed":
            return
        await record_side_effect(
            store,
            output.session_id,
            kind="output_executed",
            summary=summary_of(output),
            data={"output_id": output.id, "tool": output.tool, "kind": output.kind, "edited": output.edited},
        )

    integrations.queue.on_decided.append(record)
