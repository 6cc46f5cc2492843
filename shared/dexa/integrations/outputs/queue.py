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

from dexa.core.errors import ConflictError, DexaError, NotFoundError, ToolInputError
from dexa.core.events import EventType
from dexa.core.ports import KeyValueStore

from .executor import OutputExecutor, structured_of
from .models import (
    DECISIONS_NAMESPACE,
    EXECUTIONS_NAMESPACE,
    LEDGER_NAMESPACE,
    NAMESPACE,
    PendingOutput,
    args_hash,
    new_output_id,
)

logger = logging.getLogger(__name__)

SessionEmit = Callable[[str, str, Mapping[str, Any]], Awaitable[None]]
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
    ) -> None:
        self.kv = kv
        self.executor = executor
        self.emit = emit
        self.clock = clock

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
    ) -> PendingOutput:
        """Store a PendingOutput. Idempotent per tool_use_id, so a re-run step never stages twice."""
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
        )
        if tool_use_id and not await self.kv.kv_put_if_absent(
            "outputs_by_tool_use", f"{session_id}:{tool_use_id}", {"output_id": output.id}, org_id=org_id
        ):
            claim = await self.kv.kv_get("outputs_by_tool_use", f"{session_id}:{tool_use_id}", org_id=org_id)
            return await self.get(org_id, str((claim or {})["output_id"]))
        await self.kv.kv_put(NAMESPACE, output.id, output.to_dict(), org_id=org_id)
        return output

    # ------------------------------------------------------------ reading

    async def get(self, org_id: str, output_id: str) -> PendingOutput:
        """Raises NotFoundError for unknown ids and ids of another org."""
        doc = await self.kv.kv_get(NAMESPACE, output_id, org_id=org_id)
        if doc is None:
            raise NotFoundError(f"no output {output_id}")
        return PendingOutput.from_dict(doc)

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
        final = dict(edited_args) if edited_args is not None else dict(output.arguments)
        output = replace(
            output,
            status="approved",
            decided_by=by,
            decided_at=self.clock(),
            edited=edited_args is not None and dict(edited_args) != output.arguments,
            final_arguments=final,
            final_hash=args_hash(final),
        )
        await self.kv.kv_put(NAMESPACE, output.id, output.to_dict(), org_id=org_id)
        await self._event(output, EventType.OUTPUT_APPROVED, {"by": by, "edited": output.edited, "auto": output.auto})
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
        return output.to_dict()

    async def _execute(self, output: PendingOutput) -> PendingOutput:
        arguments = dict(output.final_arguments or output.arguments)
        if args_hash(arguments) != (output.final_hash or output.args_hash):
            raise ConflictError(f"output {output.id}: arguments changed after approval; refusing to execute")
        if not await self.kv.kv_put_if_absent(
            EXECUTIONS_NAMESPACE, output.id, {"at": self.clock()}, org_id=output.org_id
        ):
            raise ConflictError(f"output {output.id} is already being executed")
        try:
            result = await self.executor.execute(output, arguments)
        except DexaError as exc:
            output = replace(output, status="failed", error=str(exc), executed_at=self.clock())
        except Exception as exc:  # the executor reaches vendor code; an output must never stay half-decided
            logger.exception("executing %s failed unexpectedly", output.id)
            output = replace(output, status="failed", error=f"{type(exc).__name__}: {exc}", executed_at=self.clock())
        else:
            output = replace(output, status="executed", result=result, executed_at=self.clock())
        await self.kv.kv_put(NAMESPACE, output.id, output.to_dict(), org_id=output.org_id)
        if output.status == "executed":
            await self.kv.kv_put(
                LEDGER_NAMESPACE,
                output.id,
                {
                    "output_id": output.id,
                    "session_id": output.session_id,
                    "kind": output.kind,
                    "server": output.server,
                    "tool": output.tool,
                    "target": output.target,
                    "recipients": list(output.recipients),
                    "args_hash": output.final_hash,
                    # What ran, exactly (an edit included), and what it reported (e.g. a SQL change's row count).
                    "arguments": arguments,
                    "result": structured_of(output.result or {}),
                    "approved_by": output.decided_by,
                    "executed_at": output.executed_at,
                    "undoable": False,
                },
                org_id=output.org_id,
            )
        await self._event(
            output,
            EventType.OUTPUT_EXECUTED,
            {"status": output.status, "error": output.error, "result": _short(output.result)},
        )
        return output


def _short(result: Mapping[str, Any] | None) -> str:
    if not result:
        return ""
    text = str(result.get("content", ""))
    return text if len(text) <= 500 else text[:499] + "…"
