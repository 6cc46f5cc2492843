"""The default OutputQueue: PendingOutput documents in kv namespace "outputs", scoped by org.

Exactly once: a decision first claims `output_claims/<session>:<id>` with kv_put_if_absent. Only the claimant
updates the document and runs the executor; every other approve or reject gets ConflictError("already_decided").
A crash after the claim and before the executor finishes leaves the output `approved` and not `executed`: the
call may or may not have happened, and it is never retried blindly (the same rule as tool records).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict, replace
from typing import Any

from dexa.core.errors import ConflictError, NotFoundError
from dexa.core.events import EventType
from dexa.core.ports import KeyValueStore

from .ports import PendingOutput

logger = logging.getLogger(__name__)

NAMESPACE = "outputs"
CLAIMS = "output_claims"

Emit = Callable[[str, str, Mapping[str, Any]], Awaitable[object]]
OutputExecutor = Callable[[PendingOutput], Awaitable[Mapping[str, Any]]]


def _from_doc(d: dict[str, Any]) -> PendingOutput:
    return PendingOutput(
        id=str(d["id"]),
        org_id=str(d["org_id"]),
        session_id=str(d["session_id"]),
        kind=str(d["kind"]),
        tool=str(d["tool"]),
        arguments=dict(d.get("arguments") or {}),
        integration=str(d.get("integration", "")),
        summary=str(d.get("summary", "")),
        context=dict(d.get("context") or {}),
        status=d.get("status", "pending"),
        created_at=float(d.get("created_at", 0.0)),
        decided_by=d.get("decided_by"),
        decided_at=d.get("decided_at"),
        edited=bool(d.get("edited", False)),
        result=d.get("result"),
        error=str(d.get("error", "")),
    )


def already_decided(output_id: str) -> ConflictError:
    return ConflictError(f"output {output_id} was already decided", code="already_decided")


class KvOutputQueue:
    def __init__(self, store: KeyValueStore, emit: Emit, executor: OutputExecutor | None = None) -> None:
        self.store = store
        self.emit = emit
        self.executor = executor

    async def _put(self, o: PendingOutput) -> None:
        await self.store.kv_put(NAMESPACE, f"{o.session_id}:{o.id}", asdict(o), org_id=o.org_id)

    async def stage(
        self,
        *,
        org_id: str,
        session_id: str,
        kind: str,
        tool: str,
        arguments: Mapping[str, Any],
        integration: str = "",
        summary: str = "",
        context: Mapping[str, Any] | None = None,
    ) -> PendingOutput:
        output = PendingOutput(
            id=f"out_{uuid.uuid4().hex[:20]}",
            org_id=org_id,
            session_id=session_id,
            kind=kind,
            tool=tool,
            arguments=dict(arguments),
            integration=integration,
            summary=summary,
            context=dict(context or {}),
            created_at=time.time(),
        )
        await self._put(output)
        await self.emit(
            session_id,
            EventType.OUTPUT_STAGED,
            {
                "output_id": output.id,
                "kind": kind,
                "tool": tool,
                "integration": integration,
                "summary": summary,
                "arguments": output.arguments,
            },
        )
        return output

    async def list(self, org_id: str, session_id: str) -> list[PendingOutput]:
        docs = await self.store.kv_list(NAMESPACE, prefix=f"{session_id}:", org_id=org_id)
        return sorted((_from_doc(d) for d in docs), key=lambda o: o.created_at)

    async def list_org(self, org_id: str) -> list[PendingOutput]:
        docs = await self.store.kv_list(NAMESPACE, org_id=org_id)
        return sorted((_from_doc(d) for d in docs), key=lambda o: (o.created_at, o.id))

    async def get(self, org_id: str, session_id: str, output_id: str) -> PendingOutput:
        doc = await self.store.kv_get(NAMESPACE, f"{session_id}:{output_id}", org_id=org_id)
        if doc is None:
            raise NotFoundError(f"output {output_id} not found in session {session_id}")
        return _from_doc(doc)

    async def _claim(self, output: PendingOutput, decision: str, by: str) -> None:
        if output.status != "pending":
            raise already_decided(output.id)
        claimed = await self.store.kv_put_if_absent(
            CLAIMS,
            f"{output.session_id}:{output.id}",
            {"decision": decision, "by": by, "at": time.time()},
            org_id=output.org_id,
        )
        if not claimed:
            raise already_decided(output.id)

    async def approve(
        self, org_id: str, session_id: str, output_id: str, *, by: str, arguments: Mapping[str, Any] | None = None
    ) -> PendingOutput:
        output = await self.get(org_id, session_id, output_id)
        await self._claim(output, "approved", by)
        edited = arguments is not None and dict(arguments) != output.arguments
        output = replace(
            output,
            status="approved",
            decided_by=by,
            decided_at=time.time(),
            edited=edited,
            arguments=dict(arguments) if arguments is not None else output.arguments,
        )
        await self._put(output)
        await self.emit(
            session_id,
            EventType.OUTPUT_APPROVED,
            {"output_id": output_id, "by": by, "edited": edited, "arguments": output.arguments},
        )
        if self.executor is None:
            return output
        return await self._execute(output)

    async def _execute(self, output: PendingOutput) -> PendingOutput:
        executor = self.executor
        assert executor is not None
        try:
            result = dict(await executor(output))
        except Exception as exc:  # a provider failure is recorded on the output, never surfaced as a 500
            logger.exception("executing output %s failed", output.id)
            output = replace(output, status="failed", error=f"{type(exc).__name__}: {exc}")
        else:
            output = replace(output, status="executed", result=result)
        await self._put(output)
        await self.emit(
            output.session_id,
            EventType.OUTPUT_EXECUTED,
            {"output_id": output.id, "ok": output.status == "executed", "result": output.result, "error": output.error},
        )
        return output

    async def reject(self, org_id: str, session_id: str, output_id: str, *, by: str, reason: str = "") -> PendingOutput:
        output = await self.get(org_id, session_id, output_id)
        await self._claim(output, "rejected", by)
        output = replace(output, status="rejected", decided_by=by, decided_at=time.time(), error=reason)
        await self._put(output)
        await self.emit(session_id, EventType.OUTPUT_REJECTED, {"output_id": output_id, "by": by, "reason": reason})
        return output
