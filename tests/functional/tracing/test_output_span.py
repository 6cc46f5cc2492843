"""An approved staged output's execution by the control plane is a span (dexa.output.execute), inside the request
that approved it, and `dexa trace` shows it from the session's log. Real runtime, the demo company's calendar."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from dexa.adapters.otel import build
from dexa.core import tracing
from dexa.core.session import SessionConfig
from dexa.runtime.trace_tree import TraceNode
from dexa.runtime.trace_tree import build as replay
from dexa.settings import get_settings
from dexa.wiring import LOCAL_ORG, build_runtime

STAGE = "mcp__calendar__create_event"
INVITE = {
    "summary": "Call",
    "start": "2020-01-07T15:00:00Z",
    "end": "2020-01-07T15:30:00Z",
    "attendees": ["a@x.example"],
}


def _names(nodes: list[TraceNode]) -> list[str]:
    return [n.name for node in nodes for n in (node, *_flatten(node))]


def _flatten(node: TraceNode) -> list[TraceNode]:
    return [d for c in node.children for d in (c, *_flatten(c))]


def test_an_approved_output_is_executed_inside_a_span(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEXA_HOME", str(tmp_path / "home"))
    get_settings.cache_clear()
    ws = tmp_path / "ws"
    ws.mkdir()
    script = tmp_path / "script.json"
    turns = [{"text": "Inviting.", "tool_uses": [{"name": STAGE, "input": INVITE}]}, {"text": "Staged."}]
    script.write_text(json.dumps({"turns": turns}))
    exported = InMemorySpanExporter()

    async def main() -> tuple[list[TraceNode], str]:
        rt = build_runtime(get_settings())
        try:
            await rt.integrations.registry.add(LOCAL_ORG, {"provider": "demo"})
            config = SessionConfig(allowed_tools=(STAGE,), headless=True)
            session = await rt.create_session(cwd=str(ws), model=f"scripted:{script}", config=config)
            await rt.engine.submit(session.id, "Invite a.")
            await rt.driver.run(session.id, wait_for_approvals=False)
            (pending,) = await rt.integrations.queue.list(LOCAL_ORG, session_id=session.id, status="pending")
            with tracing.span("POST /outputs/{output_id}/approve"):
                done = await rt.integrations.queue.approve(LOCAL_ORG, pending["id"], by="maya")
            assert done["status"] == "executed", done
            return replay(await rt.store.read_events(session.id, limit=10_000)), str(pending["id"])
        finally:
            await rt.aclose()
            get_settings.cache_clear()

    with tracing.installed(build(span_exporter=exported)):
        roots, output_id = asyncio.run(main())
    spans = list(exported.get_finished_spans())
    (execute,) = [s for s in spans if s.name == "dexa.output.execute"]
    attrs = execute.attributes or {}
    assert attrs["dexa.output.id"] == output_id and attrs["dexa.mcp.server"] == "calendar"
    assert attrs["gen_ai.tool.name"] == "create_event" and attrs["dexa.org.id"] == LOCAL_ORG
    (request,) = [s for s in spans if s.name == "POST /outputs/{output_id}/approve"]
    assert execute.parent is not None and execute.parent.span_id == request.context.span_id  # pyright: ignore[reportOptionalMemberAccess]
    # The staging call itself was a tool call of the turn.
    assert any(s.name == f"execute_tool {STAGE}" for s in spans)
    # The session's log has the execution too: `dexa trace` shows it after the turn.
    assert "dexa.output.execute" in _names(roots)
