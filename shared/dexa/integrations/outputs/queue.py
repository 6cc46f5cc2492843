"""The review queue: stage, list, approve (once, optionally edited), reject, and the side-effect ledger.

Exactly once: a decision is claimed with `kv_put_if_absent` (a second approver gets ConflictError, HTTP 409), and
execution is claimed with a second marker, so a retried approve after a crash can never send twice.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from dexa.adapters.mcp.config import ServerConfig
from dexa.core import tracing
from dexa.core.errors import ConflictError, DexaError, NotFoundError, ToolInputError
from dexa.core.events import EventType
from dexa.core.ports import KeyValueStore

from . import connections, email_edit
from .executor import OutputExecutor, structured_of
from .kinds import shape
from .models import (
    DECISIONS_NAMESPACE,
    EXECUTIONS_NAMESPACE,
    LEDGER_NAMESPACE,
    NAMESPACE,
    OutputMode,
    PendingOutput,
    args_hash,
    new_output_id,
)

logger = logging.getLogger(__name__)

SessionEmit = Callable[[str, str, Mapping[str, Any]], Awaitable[None]]
INTERRUPTED = "interrupted: the server stopped during execution; check the target before retrying"
# `OutputQueue.list` shadows the builtin inside the class body, so annotations there use this alias.
Docs = list[dict[str, Any]]


class OutputQueue:
    def __init__(
        self,
        kv: KeyValueStore,
        executor: OutputExecutor,
        *,
        emit: SessionEmit | None = None,
        clock: Callable[[], float] = time.time,
        vault: Any = None,
    ) -> None:
        self.kv = kv
        self.executor = executor
        self.emit = emit
        self.clock = clock
        # Where a third-party server's credentials are kept for the control plane's reconnect (connections.py).
        self.vault = vault
        # Called with every output once decided (executed, failed or rejected): the runtime delivers the decision
        # into the session (resumes a blocked turn, or leaves a note for the next one). Failures are logged only.
        self.on_decided: list[Callable[[PendingOutput], Awaitable[None]]] = []

    async def _event(self, output: PendingOutput, type_: str, data: Mapping[str, Any]) -> None:
        if self.emit is None or not output.session_id:
            return
        try:
            await self.emit(output.session_id, type_, {"output_id": output.id, "kind": output.kind, **data})
        except Exception:  # the decision is recorded; a lost event must not undo it
            logger.exception("could not emit %s for %s", type_, output.id)

    # ------------------------------------------------------------ staging

    async def stage(
        self,
        *,
        org_id: str,
        session_id: str,
        tool_use_id: str,
        server: str,
        tool: str,
        exposed_name: str,
        kind: str,
        arguments: dict[str, Any],
        preview: str,
        target: str = "",
        recipients: Sequence[str] = (),
        integration_id: str | None = None,
        server_kind: str = "",
        policy: str = "",
        auto: bool = False,
        context: Mapping[str, Any] | None = None,
        mode: OutputMode = "non_blocking",
        connection: ServerConfig | None = None,
        requested_by: str = "",
    ) -> PendingOutput:
        """Store a PendingOutput. Idempotent per tool_use_id, so a re-run step never stages twice.

        `connection`: the session's own server (not a managed one), kept so the control plane can reconnect to it
        after the session ended; its env and header values go to the vault, never into the document.
        """
        if tool_use_id:
            claim = await self.kv.kv_get("outputs_by_tool_use", f"{session_id}:{tool_use_id}", org_id=org_id)
            if claim is not None:
                return await self.get(org_id, str(claim["output_id"]))
        output = PendingOutput(
            id=new_output_id(),
            org_id=org_id,
            session_id=session_id,
            tool_use_id=tool_use_id,
            server=server,
            tool=tool,
            exposed_name=exposed_name,
            kind=kind,
            arguments=dict(arguments),
            args_hash=args_hash(dict(arguments)),
            preview=preview,
            target=target,
            recipients=tuple(recipients),
            integration_id=integration_id,
            server_kind=server_kind,
            policy=policy,
            auto=auto,
            context={"session_id": session_id, "tool_use_id": tool_use_id, **dict(context or {})},
            created_at=self.clock(),
            mode=mode,
            requested_by=requested_by,
        )
        secret: dict[str, Any] = {}
        if connection is not None and connections.describable(connection):
            public, secret = connections.describe(connection)
            if (secret["env"] or secret["headers"]) and self.vault is None:
                raise ToolInputError(
                    f"cannot stage a call to {server!r}: its credentials would have to be stored in clear "
                    "(no vault is configured)"
                )
            output = replace(output, connection=public)
        if tool_use_id and not await self.kv.kv_put_if_absent(
            "outputs_by_tool_use", f"{session_id}:{tool_use_id}", {"output_id": output.id}, org_id=org_id
        ):
            claim = await self.kv.kv_get("outputs_by_tool_use", f"{session_id}:{tool_use_id}", org_id=org_id)
            return await self.get(org_id, str((claim or {})["output_id"]))
        if output.connection is not None:
            await connections.save(self.vault, org_id, output.id, secret)
        await self.kv.kv_put(NAMESPACE, output.id, output.to_dict(), org_id=org_id)
        return output

    # ------------------------------------------------------------ reading

    async def get(self, org_id: str, output_id: str) -> PendingOutput:
        """Raises NotFoundError for unknown ids and ids of another org."""
        doc = await self.kv.kv_get(NAMESPACE, output_id, org_id=org_id)
        if doc is None:
            raise NotFoundError(f"no output {output_id}")
        return PendingOutput.from_dict(doc)

    async def for_tool_use(self, org_id: str, session_id: str, tool_use_id: str) -> PendingOutput | None:
        """The output a tool call staged, if it staged one."""
        claim = await self.kv.kv_get("outputs_by_tool_use", f"{session_id}:{tool_use_id}", org_id=org_id)
        return None if claim is None else await self.get(org_id, str(claim["output_id"]))

    async def list(self, org_id: str, session_id: str | None = None, status: str | None = None) -> Docs:
        docs = await self.kv.kv_list(NAMESPACE, prefix="out_", org_id=org_id)
        outputs = [PendingOutput.from_dict(d) for d in docs]
        outputs = [
            o
            for o in outputs
            if (session_id is None or o.session_id == session_id) and (status is None or o.status == status)
        ]
        outputs.sort(key=lambda o: (o.created_at, o.id))
        return [o.to_dict() for o in outputs]

    async def ledger(self, org_id: str) -> Docs:
        return await self.kv.kv_list(LEDGER_NAMESPACE, org_id=org_id)

    # ------------------------------------------------------------ deciding

    async def _claim(self, output: PendingOutput, decision: str, by: str) -> None:
        if output.status != "pending":
            raise ConflictError(f"output {output.id} was already {output.status}")
        won = await self.kv.kv_put_if_absent(
            DECISIONS_NAMESPACE, output.id, {"decision": decision, "by": by, "at": self.clock()}, org_id=output.org_id
        )
        if not won:
            existing = await self.kv.kv_get(DECISIONS_NAMESPACE, output.id, org_id=output.org_id) or {}
            raise ConflictError(
                f"output {output.id} was already {existing.get('decision', 'decided')} "
                f"by {existing.get('by', 'someone else')}"
            )

    async def approve(
        self, org_id: str, output_id: str, *, by: str, edited_args: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """Approve and execute the pinned call exactly once; returns the output with its result.

        Raises:
            NotFoundError: unknown id (or another org's).
            ConflictError: already approved or rejected (HTTP 409).
            ToolInputError: edited_args is not an object.
        """
        output = await self.get(org_id, output_id)
        if edited_args is not None and not isinstance(edited_args, Mapping):
            raise ToolInputError("edited_args must be an object of tool arguments")
        await self._claim(output, "approved", by)
        output = replace(_pinned(output, edited_args), status="approved", decided_by=by, decided_at=self.clock())
        await self.kv.kv_put(NAMESPACE, output.id, output.to_dict(), org_id=org_id)
        await self._event(
            output,
            EventType.OUTPUT_APPROVED,
            {"by": by, "edited": output.edited, "auto": output.auto, "changes": output.changes},
        )
        return (await self._execute(output)).to_dict()

    async def approve_many(self, org_id: str, output_ids: Sequence[str], *, by: str) -> Docs:
        """Batch approve: each id independently; conflicts and failures are reported per item, never raised."""
        results: Docs = []
        for output_id in output_ids:
            try:
                results.append(await self.approve(org_id, output_id, by=by))
            except DexaError as exc:
                results.append({"id": output_id, "error": exc.code, "message": str(exc)})
        return results

    async def reject(self, org_id: str, output_id: str, *, by: str, reason: str = "") -> dict[str, Any]:
        """Raises NotFoundError, or ConflictError when already decided."""
        output = await self.get(org_id, output_id)
        await self._claim(output, "rejected", by)
        output = replace(output, status="rejected", decided_by=by, decided_at=self.clock(), reason=reason)
        await self.kv.kv_put(NAMESPACE, output.id, output.to_dict(), org_id=org_id)
        await self._event(output, EventType.OUTPUT_REJECTED, {"by": by, "reason": reason})
        await self._ledger(output, dict(output.arguments))
        if output.connection is not None:
            await connections.forget(self.vault, output.org_id, output.id)
        await self._decided(output)
        return output.to_dict()

    async def fail_interrupted(self, org_id: str) -> list[PendingOutput]:
        """Mark failed every output a stopped process left "approved" (claimed for execution, no result), and
        deliver that failure (a blocking turn parked on one continues with it as the tool result).

        Never retried: the call may or may not have reached the target, and only a human can check which.
        Call it at start-up only, when no execution of this home can still be in flight in this process.
        """
        failed: list[PendingOutput] = []
        for doc in await self.list(org_id, status="approved"):
            output = replace(PendingOutput.from_dict(doc), status="failed", error=INTERRUPTED, executed_at=self.clock())
            await self.kv.kv_put(NAMESPACE, output.id, output.to_dict(), org_id=org_id)
            await self._ledger(output, dict(output.final_arguments or output.arguments))
            await self._event(
                output, EventType.OUTPUT_EXECUTED, {"status": output.status, "error": output.error, "result": ""}
            )
            if output.connection is not None:
                await connections.forget(self.vault, output.org_id, output.id)
            await self._decided(output)
            failed.append(output)
        return failed

    async def _decided(self, output: PendingOutput) -> None:
        for callback in self.on_decided:
            try:
                await callback(output)
            except Exception:  # the decision stands; delivering it into the session is best effort
                logger.exception("could not deliver the decision on %s to session %s", output.id, output.session_id)

    async def _execute(self, output: PendingOutput) -> PendingOutput:
        arguments = dict(output.final_arguments or output.arguments)
        if args_hash(arguments) != (output.final_hash or output.args_hash):
            raise ConflictError(f"output {output.id}: arguments changed after approval; refusing to execute")
        if not await self.kv.kv_put_if_absent(
            EXECUTIONS_NAMESPACE, output.id, {"at": self.clock()}, org_id=output.org_id
        ):
            raise ConflictError(f"output {output.id} is already being executed")
        attrs = {
            "dexa.output.id": output.id,
            "dexa.output.kind": output.kind,
            "dexa.session.id": output.session_id,
            "dexa.org.id": output.org_id,
            "dexa.mcp.server": output.server,
            "gen_ai.tool.name": output.tool,
        }
        try:
            with tracing.span("dexa.output.execute", attrs):
                if email_edit.rewrites(output, arguments):
                    result = await email_edit.send_edited(self.executor, output, arguments)
                else:
                    result = await self.executor.execute(output, arguments)
        except DexaError as exc:
            output = replace(output, status="failed", error=str(exc), executed_at=self.clock())
        except Exception as exc:  # the executor reaches vendor code; an output must never stay half-decided
            logger.exception("executing %s failed unexpectedly", output.id)
            output = replace(output, status="failed", error=f"{type(exc).__name__}: {exc}", executed_at=self.clock())
        else:
            # The integration's executor says whose grant it acted with; it is audit, not part of the result.
            owner = str(result.pop("grant_owner", "") or "") if isinstance(result, dict) else ""
            output = replace(output, status="executed", result=result, executed_at=self.clock(), grant_owner=owner)
        await self.kv.kv_put(NAMESPACE, output.id, output.to_dict(), org_id=output.org_id)
        await self._ledger(output, arguments)
        await self._event(
            output,
            EventType.OUTPUT_EXECUTED,
            {"status": output.status, "error": output.error, "result": _short(output.result)},
        )
        if output.connection is not None:
            await connections.forget(self.vault, output.org_id, output.id)
        await self._decided(output)
        return output

    async def _ledger(self, output: PendingOutput, arguments: dict[str, Any]) -> None:
        """Every decided output, with exactly what ran (an edit included) and what it reported, or why not."""
        await self.kv.kv_put(
            LEDGER_NAMESPACE,
            output.id,
            {
                "output_id": output.id,
                "session_id": output.session_id,
                "status": output.status,
                "kind": output.kind,
                "server": output.server,
                "tool": output.tool,
                "target": output.target,
                "recipients": list(output.recipients),
                "args_hash": output.final_hash or output.args_hash,
                "staged_args_hash": output.args_hash,
                "edited": output.edited,
                "changes": output.changes,
                "arguments": arguments,
                "result": structured_of(output.result or {}),
                "content": _short(output.result),
                "error": output.error,
                "reason": output.reason,
                "approved_by": output.decided_by if output.status != "rejected" else None,
                "decided_by": output.decided_by,
                "requested_by": output.requested_by,
                "grant_owner": output.grant_owner,
                "executed_at": output.executed_at,
                "undoable": False,
            },
            org_id=output.org_id,
        )


def _pinned(output: PendingOutput, edited_args: Mapping[str, Any] | None) -> PendingOutput:
    """The output with the arguments that will run pinned by hash; an edit re-derives what a reviewer and the ledger
    see (target, recipients, preview) from the edited arguments, so neither keeps the staged recipients."""
    shown = email_edit.reviewable(output)
    final = dict(edited_args) if edited_args is not None else dict(output.arguments)
    if final in (output.arguments, shown):
        final = dict(output.arguments)
        return replace(output, edited=False, final_arguments=final, final_hash=args_hash(final))
    changes = {
        key: {"from": shown.get(key), "to": final.get(key)}
        for key in sorted(set(shown) | set(final))
        if shown.get(key) != final.get(key)
    }
    lookup = dict(output.context.get("lookup") or {})
    # An edited field overrides what the lookup showed (e.g. a draft's body edited in review).
    shaped = shape(output.kind, output.tool, final, {**lookup, **{k: v for k, v in final.items() if k in lookup}})
    return replace(
        output,
        edited=True,
        final_arguments=final,
        final_hash=args_hash(final),
        changes=changes,
        target=shaped.target or output.target,
        recipients=shaped.recipients,
        preview=shaped.preview,
    )


def _short(result: Mapping[str, Any] | None) -> str:
    if not result:
        return ""
    text = str(result.get("content", ""))
    return text if len(text) <= 500 else text[:499] + "…"
