"""StagingGate: the CallGate that turns side-effecting MCP calls into PendingOutputs (or auto-applies them)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from dexa.adapters.mcp.config import ServerConfig
from dexa.adapters.mcp.gate import McpCall
from dexa.core.errors import DexaError
from dexa.core.events import EventType
from dexa.core.ports import KeyValueStore
from dexa.core.tools import ToolContext, ToolOutput

from .executor import OutputExecutor, RoutingExecutor
from .kinds import shape
from .known import typed_call
from .models import TERMINAL_STATUSES, OutputMode, PendingOutput
from .modes import OutputModes
from .notice import decision_text
from .policy import POLICY_NAMESPACE, OutputPolicy, PolicyDecision, PolicySet, decide
from .queue import OutputQueue

logger = logging.getLogger(__name__)

# Reads extra context for a preview (e.g. the draft a send_draft call would send): (server, tool, args) -> data.
LookupFn = Callable[[str, str, dict[str, Any]], Awaitable[Mapping[str, Any] | None]]
_LOOKUPS: dict[tuple[str, str], tuple[str, str]] = {
    ("email", "send_draft"): ("get_draft", "draft_id"),
    ("tickets", "add_comment"): ("get_ticket", "ticket_id"),
    # A staged SQL change is dry-run (and rolled back) so the reviewer sees the rows it would change.
    ("database", "execute_sql"): ("preview_sql", "sql"),
}


class StagingGate:
    def __init__(
        self,
        queue: OutputQueue | None = None,
        *,
        executor: OutputExecutor | None = None,
        org_policy: OutputPolicy | None = None,
        session_policy: OutputPolicy | None = None,
        lookup: LookupFn | None = None,
        kv: KeyValueStore | None = None,
        settings_layers: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        # Without a queue, outputs go to the session's own store (ctx.kv), executed through `executor`.
        self.queue = queue
        self.executor = executor or RoutingExecutor()
        self.org_policy = org_policy
        self.session_policy = session_policy
        self.lookup = lookup
        # The session's server definitions by name (its McpManager), kept with each output so the control plane can
        # reconnect to a third-party server to execute it; None = managed servers only.
        self.servers: Callable[[str], ServerConfig | None] | None = None
        # Overrides the org policy document's "modes" (tests, embedders); see modes.py.
        self.modes: OutputModes | None = None
        # Where the org's and the session's stored policies are read before a call runs (`held`).
        self.kv = kv
        # dexa.outputPolicy from the settings files, merged per level: "org" (managed), "user", "project".
        self.settings_layers = dict(settings_layers or {})
        # The user the session acts for; kept with each output so it executes with that user's grant.
        self.requested_by = ""

    def _layer(self, level: str) -> OutputPolicy | None:
        doc = self.settings_layers.get(level)
        if not doc:
            return None
        try:
            return OutputPolicy.from_dict(doc)
        except DexaError as exc:
            if level == "org":
                raise
            logger.warning("dexa.outputPolicy in the %s settings is ignored: %s", level, exc)
            return None

    async def _policies(self, kv: KeyValueStore | None, org_id: str, session_id: str) -> PolicySet:
        org = self.org_policy
        if org is None:
            stored = await kv.kv_get(POLICY_NAMESPACE, "org", org_id=org_id) if kv is not None else None
            org = OutputPolicy.from_dict(stored)
            managed = self._layer("org")
            if managed is not None:
                org = org.over(managed)
        session = self.session_policy
        if session is None and kv is not None:
            doc = await kv.kv_get(POLICY_NAMESPACE, f"session:{session_id}", org_id=org_id)
            session = OutputPolicy.from_dict(doc) if doc else None
        return PolicySet(org=org, user=self._layer("user"), project=self._layer("project"), session=session)

    async def decision(
        self, call: McpCall, *, kv: KeyValueStore | None, org_id: str, session_id: str
    ) -> PolicyDecision:
        try:
            policies = await self._policies(kv, org_id, session_id)
        except DexaError as exc:
            # A broken org policy document must fail closed: stage rather than run.
            logger.warning("output policy for org %s is invalid (%s); staging", org_id, exc)
            policies = PolicySet(org=OutputPolicy(default="stage"))
        return decide(call, policies=policies)

    async def held(self, call: McpCall, *, org_id: str, session_id: str) -> bool:
        """Asked before the permission prompt: a call policy keeps from the server needs no tool permission."""
        decision = await self.decision(call, kv=self.kv, org_id=org_id, session_id=session_id)
        return decision.decision != "direct"

    async def check(self, call: McpCall, ctx: ToolContext) -> ToolOutput | None:
        decision = await self.decision(call, kv=ctx.kv, org_id=ctx.org_id, session_id=ctx.session_id)
        if decision.decision == "direct":
            return None
        if decision.decision == "deny":
            return ToolOutput(
                is_error=True,
                content=f"{call.exposed_name} is blocked by the output policy ({decision.rule}). "
                "Nothing was sent. Do not retry; tell the user.",
            )
        return await self._stage(call, ctx, decision)

    async def _stage(self, call: McpCall, ctx: ToolContext, decision: PolicyDecision) -> ToolOutput:
        extra = await self._lookup(call)
        if decision.kind == "sql_change" and extra is not None and extra.get("error"):
            # A change that cannot run now would only fail after approval: the agent fixes it instead.
            return ToolOutput(
                is_error=True,
                content=f"{call.exposed_name} was not staged: its dry run failed: {extra['error']}. Nothing changed.",
            )
        kind, shown = decision.kind, call.arguments
        if kind == "mcp_call" and not call.trusted:
            # A well-known third-party server's write (a Slack message, a SQL change) reads like Dexa's own.
            typed = typed_call(call.origin, call.tool, call.arguments)
            if typed is not None:
                kind, shown = typed
        shaped = shape(kind, call.tool, shown, extra, server=call.server)
        queue = self.queue or OutputQueue(ctx.kv, self.executor, emit=_session_emit(ctx))
        mode, mode_rule = await self._mode(call, ctx, kind)
        server = self.servers(call.server) if self.servers is not None else None
        output = await queue.stage(
            org_id=ctx.org_id,
            session_id=ctx.session_id,
            tool_use_id=ctx.tool_use_id,
            server=call.server,
            tool=call.tool,
            exposed_name=call.exposed_name,
            kind=kind,
            arguments=call.arguments,
            preview=shaped.preview,
            target=shaped.target,
            recipients=shaped.recipients,
            integration_id=call.integration_id,
            server_kind=call.kind,
            policy=decision.rule,
            auto=decision.decision == "auto",
            context={"cwd": ctx.cwd, "lookup": dict(extra or {}), "mode_rule": mode_rule},
            mode=mode,
            connection=server,
            requested_by=self.requested_by,
        )
        if output.status == "pending":
            await ctx.emit(EventType.OUTPUT_STAGED, {**output.summary(), "auto": output.auto, "policy": output.policy})
        if decision.decision == "auto" and output.status == "pending":
            try:
                done = await queue.approve(ctx.org_id, output.id, by=f"policy:{decision.rule}")
            except DexaError as exc:
                return ToolOutput(
                    is_error=True,
                    content=f"{call.exposed_name} was auto-applied by org policy as {output.id} but failed: {exc}",
                )
            ok = done["status"] == "executed"
            content = (done.get("result") or {}).get("content", "") if ok else done.get("error", "")
            return ToolOutput(
                is_error=not ok,
                content=f"Applied automatically by org policy ({decision.rule}) as {output.id}: {content}",
                data={"output_id": output.id},
            )
        if output.status in TERMINAL_STATUSES:  # a re-run of a call decided since (crash, resume): its outcome
            return ToolOutput(
                is_error=output.status != "executed",
                content=decision_text(output),
                data={"output_id": output.id, "status": output.status, "kind": output.kind},
            )
        if output.mode == "blocking":
            return _parked(output, call.exposed_name)
        return ToolOutput(
            content=(
                f"Staged as {output.id} for human review ({shaped.target}). It has NOT been "
                "sent or applied; a reviewer will approve, edit or reject it. Do not retry this call; "
                "continue with the rest of the task and mention the staged item in your summary."
            ),
            data={"output_id": output.id, "status": output.status, "kind": kind},
        )

    async def _mode(self, call: McpCall, ctx: ToolContext, kind: str) -> tuple[OutputMode, str]:
        """Blocking or not: the org's stored policy, then dexa.outputPolicy.modes of the org (managed), user and
        project settings; the first that names this tool or output type decides, then the first default."""
        if self.modes is not None:
            return self.modes.choose(server=call.server, tool=call.tool, kind=kind or "mcp_call")
        doc = await ctx.kv.kv_get(POLICY_NAMESPACE, "org", org_id=ctx.org_id) or {}
        sources = [("org", doc.get("modes"))]
        for level in ("org", "user", "project"):
            sources.append((level, (self.settings_layers.get(level) or {}).get("modes")))
        tables: list[OutputModes] = []
        for level, raw in sources:
            try:
                tables.append(OutputModes.from_dict(raw))
            except DexaError as exc:  # a broken mode table must not stop staging: the others (or the default) apply
                logger.warning("output modes in the %s policy are ignored: %s", level, exc)
        return OutputModes.first(tables, server=call.server, tool=call.tool, kind=kind or "mcp_call")

    async def _lookup(self, call: McpCall) -> Mapping[str, Any] | None:
        spec = _LOOKUPS.get((call.kind, call.tool))
        if spec is None or self.lookup is None:
            return None
        tool, key = spec
        if key not in call.arguments:
            return None
        try:
            return await self.lookup(call.server, tool, {key: call.arguments[key]})
        except DexaError as exc:
            logger.info("preview lookup %s.%s failed: %s", call.server, tool, exc)
            return None


def _parked(output: PendingOutput, exposed_name: str) -> ToolOutput:
    """A blocking output: the turn waits on an approval of kind "output" until the output is decided."""
    waiting = (
        f"Staged as {output.id} for human review ({output.target}). It has NOT been sent or applied; this call "
        "waits for the reviewer's decision."
    )
    return ToolOutput(
        content=waiting,
        data={
            "output_id": output.id,
            "status": output.status,
            "kind": output.kind,
            "park": {
                "kind": "output",
                "reason": f"{exposed_name} is staged as {output.id}: {output.preview}",
                "rule": output.policy,
                "source": "output_policy",
                # What the agent is told when nobody can decide now (a headless run with no approver).
                "headless": f"{waiting} This run has no approver, so it cannot wait: the output stays staged for "
                f"review (dexa outputs approve {output.id}, the API or the Review page). Do not retry this call.",
            },
        },
    )


def _session_emit(ctx: ToolContext) -> Callable[[str, str, Mapping[str, Any]], Awaitable[None]]:
    async def emit(session_id: str, type_: str, data: Mapping[str, Any]) -> None:
        if session_id == ctx.session_id:
            await ctx.emit(type_, data)

    return emit
