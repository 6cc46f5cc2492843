"""Approval -> execution -> the agent continues: the runtime's side of staged outputs.

- A decided output reaches its session: a blocking one resolves the approval its turn is parked on (the decision's
  text becomes the tool result) and the turn is driven on; a non-blocking one leaves a note the next turn sees.
  Either way the decision is also in the event log (output.approved / output.executed / output.rejected).
- A parked output can be answered through any approval channel (POST /sessions/{id}/approve, a stream-json
  permission answer, a Slack button): the engine's "output" decider approves (edits = updated input) or rejects it
  in the queue, which executes it exactly once.
- The control plane executes a third-party stdio server's output under the same sandbox rule as the session that
  staged it (bubblewrap over the session's roots), never bare, and in its own event loop.
"""

from __future__ import annotations

import contextvars
import logging
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from dexa.core.errors import ConflictError
from dexa.core.session import Approval
from dexa.integrations.outputs.models import PendingOutput
from dexa.integrations.outputs.notice import decided_ok, decision_text

if TYPE_CHECKING:  # the transports module imports the MCP SDK (~1,000 modules), which a run may never use
    from dexa.adapters.mcp.config import ServerConfig
    from dexa.adapters.mcp.transports import CommandWrapper, StdioLaunch

logger = logging.getLogger(__name__)

# The output whose decision is being carried out for an approval answer: that answer resolves the approval itself.
_ANSWERING: contextvars.ContextVar[str] = contextvars.ContextVar("dexa_output_answering", default="")


def _bare(launch: StdioLaunch, server: ServerConfig) -> StdioLaunch:
    return launch


def attach_output_delivery(integrations: Any, runtime: Any) -> None:
    """Wire the queue, the engine and the driver of one runtime (dexa.wiring calls this once)."""
    queue = integrations.queue
    engine = runtime.engine
    store = runtime.store

    async def launcher(output: PendingOutput) -> CommandWrapper | None:
        settings = runtime.settings
        if settings.sandbox == "modal":
            return None  # the control plane has no workspace sandbox of its own here: refused, never run bare
        session = await store.get_session(output.session_id)
        if session.config.unsandboxed or settings.unsandboxed:
            return _bare  # the user accepted running this session's commands without a sandbox
        from dexa.adapters.mcp.sandbox import bwrap_wrapper

        return bwrap_wrapper(
            [session.cwd, *session.config.add_dirs],
            read_only=sorted({sys.prefix, sys.base_prefix}),
            protected=[str(settings.home)],
        )

    async def decide(
        approval: Approval, *, allow: bool, by: str, message: str, updated_input: Mapping[str, Any] | None
    ) -> tuple[bool, str] | None:
        session = await store.get_session(approval.session_id)
        output = await queue.for_tool_use(session.org_id, approval.session_id, approval.tool_use_id)
        if output is None:
            return allow, message
        if output.status == "pending":
            token = _ANSWERING.set(output.id)
            try:
                if allow:
                    edited = dict(updated_input) if updated_input is not None else None
                    await queue.approve(session.org_id, output.id, by=by, edited_args=edited)
                else:
                    await queue.reject(session.org_id, output.id, by=by, reason=message)
            except ConflictError:
                pass  # decided by someone else meanwhile: report what they decided
            finally:
                _ANSWERING.reset(token)
            output = await queue.get(session.org_id, output.id)
        if output.status in ("pending", "approved"):
            return None  # still being executed by whoever won: its delivery resolves the approval
        return decided_ok(output), decision_text(output)

    async def deliver(output: PendingOutput) -> None:
        if _ANSWERING.get() == output.id or output.auto:
            return  # the agent learns it from the tool result it is waiting for (or already has)
        text = decision_text(output)
        if output.mode == "blocking":
            approval = await store.get_approval(output.session_id, f"ap_{output.tool_use_id}")
            if approval is not None and approval.kind == "output" and approval.status == "pending":
                await engine.resolve_approval(
                    output.session_id, approval.id, allow=decided_ok(output), by=output.decided_by or "", message=text
                )
                runtime.driver.start(output.session_id)  # after a restart nothing drives the parked turn
                return
        await engine.add_note(output.session_id, output.id, text)

    engine.deciders["output"] = decide
    queue.on_decided.append(deliver)
    reconnect = integrations.extra.get("reconnect")
    if reconnect is not None:
        reconnect.launcher = launcher


def lazy_output_decider(runtime: Any) -> Any:
    """The "output" decider before the integrations exist: an answer to a parked output can arrive first (after a
    restart, the first request may be the decision); building them installs the real decider, which then runs."""

    async def decide(approval: Approval, **kwargs: Any) -> tuple[bool, str] | None:
        _ = runtime.integrations  # builds them, replacing this decider
        real = runtime.engine.deciders.get("output")
        if real is None or real is decide:
            return None  # nothing can carry the decision out: leave the approval pending rather than fake it
        return await real(approval, **kwargs)

    return decide
