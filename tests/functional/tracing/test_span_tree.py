"""The span tree of a scripted session, recorded by the OpenTelemetry SDK's in-memory exporter.

The session runs as `dexa serve` runs it (build_runtime, the in-process driver) against the loopback Messages API
through the real anthropic SDK: one overloaded answer (a retry), a Bash call that a PreToolUse hook sees and the
user approves, then the final answer.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from dexa.adapters.otel import build
from dexa.core import tracing
from dexa.core.events import Event
from dexa.core.session import SessionConfig
from dexa.runtime.trace_tree import TraceNode
from dexa.runtime.trace_tree import build as replay
from dexa.settings import get_settings
from dexa.testing.messages_api import serve
from dexa.testing.script import Script
from dexa.wiring import build_runtime

SCRIPT = {
    "turns": [
        {"error": {"status": 529, "times": 1, "retry_after": 0}},
        {"text": "Appending.", "tool_uses": [{"name": "Bash", "input": {"command": "echo 1 >> log.txt"}}]},
        {"text": "done"},
    ]
}


@pytest.fixture
def exporter() -> Iterator[tuple[InMemorySpanExporter, InMemoryMetricReader]]:
    spans, metrics = InMemorySpanExporter(), InMemoryMetricReader()
    with tracing.installed(build(span_exporter=spans, metric_reader=metrics)):
        yield spans, metrics


def _run_session(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, list[Event]]:
    ws = tmp_path / "ws"
    ws.mkdir()
    settings_file = tmp_path / "settings.json"
    hook = {"matcher": "Bash", "hooks": [{"type": "command", "command": "true"}]}
    settings_file.write_text(json.dumps({"hooks": {"PreToolUse": [hook]}}))
    monkeypatch.setenv("ANTHROPIC_API_KEY", "k")
    get_settings.cache_clear()

    async def main(url: str) -> tuple[str, list[Event]]:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", url)
        rt = build_runtime(get_settings())
        try:
            config = SessionConfig(settings_files=(str(settings_file),))
            session = await rt.create_session(cwd=str(ws), model="claude-sonnet-5", config=config)
            await rt.engine.submit(session.id, "append a line")
            await rt.driver.run(session.id, wait_for_approvals=False)  # parks on the Bash permission
            (approval,) = await rt.store.list_approvals(session.id, status="pending")
            await rt.engine.resolve_approval(session.id, approval.id, allow=True, by="tester")
            done = await rt.driver.run(session.id)
            assert done.result == "done", done
            assert (ws / "log.txt").read_text() == "1\n"
            return session.id, await rt.store.read_events(session.id, limit=10_000)
        finally:
            await rt.aclose()
            get_settings.cache_clear()

    with serve(Script.from_dict(SCRIPT)) as server:
        return asyncio.run(main(server.url))


def _live_tree(spans: list[ReadableSpan]) -> list[tuple[str, str]]:
    """(span, nearest ancestor that is not a step) for every span but the steps."""
    by_id = {s.context.span_id: s for s in spans}  # pyright: ignore[reportOptionalMemberAccess]
    pairs: list[tuple[str, str]] = []
    for span in spans:
        if span.name.startswith("dexa.step "):
            continue
        parent = by_id.get(span.parent.span_id) if span.parent is not None else None
        while parent is not None and parent.name.startswith("dexa.step "):
            parent = by_id.get(parent.parent.span_id) if parent.parent is not None else None
        pairs.append((span.name, parent.name if parent is not None else ""))
    return sorted(pairs)


def _replayed_tree(roots: list[TraceNode]) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []

    def walk(node: TraceNode, parent: str) -> None:
        pairs.append((node.name, parent))
        for child in node.children:
            walk(child, node.name)

    for root in roots:
        walk(root, "")
    return sorted(pairs)


def _children(spans: list[ReadableSpan], parent: ReadableSpan) -> list[ReadableSpan]:
    sid = parent.context.span_id  # pyright: ignore[reportOptionalMemberAccess]
    return [s for s in spans if s.parent is not None and s.parent.span_id == sid]


def test_a_scripted_session_makes_the_span_tree_with_genai_attributes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, exporter: tuple[InMemorySpanExporter, InMemoryMetricReader]
) -> None:
    spans_out, metrics = exporter
    session_id, events = _run_session(tmp_path, monkeypatch)
    spans = list(spans_out.get_finished_spans())
    names = [s.name for s in spans]

    # One trace, rooted at the turn span; every other dexa span hangs under it.
    (turn,) = [s for s in spans if s.name == "invoke_agent dexa"]
    assert turn.parent is None
    assert {s.context.trace_id for s in spans} == {turn.context.trace_id}  # pyright: ignore[reportOptionalMemberAccess]
    assert turn.attributes is not None
    assert turn.attributes["gen_ai.conversation.id"] == session_id
    assert turn.attributes["dexa.turn.subtype"] == "success"
    assert turn.attributes["dexa.turn.model_calls"] == 2
    assert turn.status.status_code is not StatusCode.ERROR

    steps = _children(spans, turn)
    assert [s.name for s in sorted(steps, key=lambda s: s.start_time or 0)] == [
        "dexa.step begin_turn",
        "dexa.step call_model",
        "dexa.step decide_tools",
        "dexa.step await_approval",  # parked: "wait"
        "dexa.step await_approval",  # decided
        "dexa.step run_tools",
        "dexa.step call_model",
        "dexa.step end_turn",
    ]
    assert all(turn.start_time <= s.start_time for s in steps)  # pyright: ignore[reportOperator]
    assert all((s.end_time or 0) <= (turn.end_time or 0) for s in steps)

    # The model calls: GenAI semantic conventions, the retry counted, tokens and cost.
    chats = [s for s in spans if s.name.startswith("chat ")]
    assert len(chats) == 2 and all(c.parent is not None for c in chats)
    first = chats[0].attributes or {}
    assert first["gen_ai.operation.name"] == "chat"
    assert first["gen_ai.provider.name"] == "anthropic"
    assert str(first["gen_ai.request.model"]).startswith("claude-sonnet-5")
    assert first["dexa.model.retries"] == 1
    assert int(first["gen_ai.usage.input_tokens"]) > 0  # pyright: ignore[reportArgumentType]
    assert int(first["gen_ai.usage.output_tokens"]) > 0  # pyright: ignore[reportArgumentType]
    assert "gen_ai.usage.cache_read.input_tokens" in first
    assert float(first["dexa.cost_usd"]) > 0  # pyright: ignore[reportArgumentType]
    assert (chats[1].attributes or {})["dexa.model.retries"] == 0

    # The permission decision (an ask: the default mode, no rule), with the PreToolUse hook inside it.
    (permission,) = [s for s in spans if s.name == "dexa.permission Bash"]
    assert (permission.attributes or {})["dexa.permission.decision"] == "ask"
    assert str((permission.attributes or {})["dexa.permission.source"]).startswith("mode:")
    (hook,) = [s for s in spans if s.name == "dexa.hook PreToolUse"]
    assert hook.parent is not None and hook.parent.span_id == permission.context.span_id  # pyright: ignore[reportOptionalMemberAccess]

    # The approval wait, from the request to the decision, under the step that found it decided.
    (wait,) = [s for s in spans if s.name == "dexa.approval_wait"]
    wait_attrs = wait.attributes or {}
    assert wait_attrs["dexa.approval.decision"] == "allowed" and wait_attrs["dexa.approval.decided_by"] == "tester"
    assert wait.parent is not None and wait.parent.span_id in {s.context.span_id for s in steps}  # pyright: ignore[reportOptionalMemberAccess]

    # The tool call: its decision as it ran (the user's allow of an ask), the sandbox's exit code and time.
    (tool,) = [s for s in spans if s.name == "execute_tool Bash"]
    tool_attrs = tool.attributes or {}
    assert tool_attrs["gen_ai.tool.name"] == "Bash"
    assert tool_attrs["dexa.permission.decision"] == "ask"
    assert tool_attrs["dexa.tool.exit_code"] == 0 and tool_attrs["dexa.tool.is_error"] is False
    assert int(tool_attrs["dexa.sandbox.duration_ms"]) >= 0  # pyright: ignore[reportArgumentType]
    (run_tools,) = [s for s in steps if s.name == "dexa.step run_tools"]
    assert tool.parent is not None and tool.parent.span_id == run_tools.context.span_id  # pyright: ignore[reportOptionalMemberAccess]
    assert "dexa.hook PostToolUse" not in names  # no PostToolUse hook configured: no span for nothing

    # `dexa trace` rebuilds the same tree from the event log alone (the step level aside, which leaves no events).
    assert _live_tree(spans) == _replayed_tree(replay(events))

    # Metrics: cost per org and session, tool calls, and the latency histograms.
    data = metrics.get_metrics_data()
    assert data is not None
    points = {
        m.name: list(m.data.data_points)  # pyright: ignore[reportAttributeAccessIssue]
        for rm in data.resource_metrics
        for sm in rm.scope_metrics
        for m in sm.metrics
    }
    (cost,) = points["dexa.cost"]
    assert cost.attributes["dexa.session.id"] == session_id and cost.attributes["dexa.org.id"]
    assert cost.value == pytest.approx(sum(float((c.attributes or {})["dexa.cost_usd"]) for c in chats), rel=1e-3)  # pyright: ignore[reportArgumentType]
    (calls,) = points["dexa.tool.calls"]
    assert calls.value == 1 and calls.attributes["gen_ai.tool.name"] == "Bash"
    for histogram in ("gen_ai.client.operation.duration", "dexa.tool.duration", "dexa.step.duration"):
        assert sum(p.count for p in points[histogram]) >= 1, histogram


def test_log_records_carry_the_current_trace_and_span(exporter: tuple[InMemorySpanExporter, object]) -> None:
    import logging

    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    log = logging.getLogger("dexa.test.tracing")
    log.addHandler(Keep())
    log.setLevel(logging.INFO)
    with tracing.span("outer"):
        log.info("inside")
        current = tracing.tracer().traceparent()
    log.info("outside")
    inside, outside = records
    assert f"00-{inside.otelTraceID}-{inside.otelSpanID}-01" == current  # pyright: ignore[reportAttributeAccessIssue]
    assert outside.otelTraceID == "0"  # pyright: ignore[reportAttributeAccessIssue]


def test_a_budget_pause_is_an_approval_wait(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, exporter: tuple[InMemorySpanExporter, InMemoryMetricReader]
) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    monkeypatch.setenv("ANTHROPIC_API_KEY", "k")
    get_settings.cache_clear()
    script = {"turns": [{"tool_uses": [{"name": "Bash", "input": {"command": "true"}}]}, {"text": "within budget"}]}

    async def main(url: str) -> None:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", url)
        rt = build_runtime(get_settings())
        try:
            config = SessionConfig(allowed_tools=("Bash",), max_budget_usd=0.000001)
            session = await rt.create_session(cwd=str(ws), model="claude-sonnet-5", config=config)
            await rt.engine.submit(session.id, "go")
            await rt.driver.run(session.id, wait_for_approvals=False)  # the second model call would pass the budget
            (approval,) = await rt.store.list_approvals(session.id, status="pending")
            assert approval.kind == "budget"
            await rt.engine.resolve_approval(session.id, approval.id, allow=True, by="payer")
            assert (await rt.driver.run(session.id)).result == "within budget"
        finally:
            await rt.aclose()
            get_settings.cache_clear()

    with serve(Script.from_dict(script)) as server:
        asyncio.run(main(server.url))
    (wait,) = [s for s in exporter[0].get_finished_spans() if s.name == "dexa.approval_wait"]
    attrs = wait.attributes or {}
    assert attrs["dexa.approval.kind"] == "budget" and attrs["dexa.approval.decided_by"] == "payer"
