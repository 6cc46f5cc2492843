"""The turn's trace crosses Step Functions: the execution input carries the turn span's traceparent, every step task
(one Lambda invocation each, chain off) and every Map item reads it, so all their spans land in the caller's trace
under the turn span."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sfn_tools import PeekTool
from sfn_world import World

from dexa.adapters.otel import build
from dexa.core import tracing
from dexa.testing.scripted import reply, text, tool_use


def test_steps_and_map_items_of_an_execution_are_children_of_the_turn_span(
    world_factory: Callable[..., World],
) -> None:
    spans_out = InMemorySpanExporter()
    with tracing.installed(build(span_exporter=spans_out)):
        peek = PeekTool()
        world = world_factory(
            [reply("Looking", tool_use("Peek", {"path": "a"}), tool_use("Peek", {"path": "b"})), text("seen")],
            [peek],
            chain=False,
        )
        with tracing.span("client request"):
            client = tracing.tracer().traceparent()
            arn = asyncio.run(world.start())
        info = world.wait(arn)
    assert info["status"] == "SUCCEEDED", info
    assert sorted(peek.runs) == ["a", "b"]

    execution_input = json.loads(info["input"])
    turn_trace = tracing.parse_traceparent(execution_input["traceparent"])
    client_trace = tracing.parse_traceparent(client)
    assert turn_trace is not None and client_trace is not None
    assert turn_trace[0] == client_trace[0]  # the turn continues the caller's trace

    spans = list(spans_out.get_finished_spans())
    assert {f"{s.context.trace_id:032x}" for s in spans} == {client_trace[0]}  # pyright: ignore[reportOptionalMemberAccess]
    (turn,) = [s for s in spans if s.name == "invoke_agent dexa"]
    assert f"{turn.context.span_id:016x}" == turn_trace[1]  # the id reserved at submit  # pyright: ignore[reportOptionalMemberAccess]
    assert turn.parent is not None and f"{turn.parent.span_id:016x}" == client_trace[1]
    under_turn = [s.name for s in spans if s.parent is not None and s.parent.span_id == turn.context.span_id]  # pyright: ignore[reportOptionalMemberAccess]
    assert {"dexa.step begin_turn", "dexa.step call_model", "dexa.step decide_tools", "dexa.step end_turn"} <= set(
        under_turn
    )
    # The Map's RunTool items run outside engine.step, in their own invocations: the execution input parents them.
    tools = [s for s in spans if s.name == "execute_tool Peek"]
    assert len(tools) == 2
    assert all(t.parent is not None and t.parent.span_id == turn.context.span_id for t in tools)  # pyright: ignore[reportOptionalMemberAccess]
