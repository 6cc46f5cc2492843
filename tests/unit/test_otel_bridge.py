"""The X-Ray bridge (ids only) and the Lambda invocation wrapper: spans of an invocation join its X-Ray trace, a
traceparent of their own wins."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from dexa.adapters.aws.lambda_entry import traced
from dexa.adapters.otel import build
from dexa.adapters.otel.xray import traceparent_from_xray
from dexa.core import tracing

HEADER = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"


def test_an_xray_header_becomes_a_traceparent() -> None:
    assert traceparent_from_xray(HEADER) == "00-5759e988bd862e3fe1be46a994272793-53995c3f42cd8ad8-01"
    assert traceparent_from_xray(HEADER.replace("Sampled=1", "Sampled=0")).endswith("-00")
    assert traceparent_from_xray("Root=1-5759e988-bd862e3fe1be46a994272793") == ""  # no parent: nothing to join
    assert traceparent_from_xray("") == "" and traceparent_from_xray(None) == ""


def test_parse_traceparent_refuses_what_is_not_one() -> None:
    assert tracing.parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01") == (
        "4bf92f3577b34da6a3ce929d0e0e4736",
        "00f067aa0ba902b7",
        True,
    )
    for bad in ("", "garbage", "00-" + "0" * 32 + "-00f067aa0ba902b7-01", "01-4bf92f35-00f067aa0ba902b7-01"):
        assert tracing.parse_traceparent(bad) is None, bad


def test_a_lambda_invocations_spans_join_its_xray_trace(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("_X_AMZN_TRACE_ID", HEADER)
    exported = InMemorySpanExporter()
    seen: dict[str, Any] = {}

    def handler(event: dict[str, Any], context: Any) -> str:
        with tracing.span("inside"):
            seen["inside"] = tracing.tracer().traceparent()
        with tracing.continue_from(event["traceparent"]), tracing.span("a step of the turn"):
            seen["step"] = tracing.tracer().traceparent()
        return "ok"

    turn = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    with tracing.installed(build(span_exporter=exported)):
        assert traced(handler, {"traceparent": turn}, None) == "ok"
    inside, step = (exported.get_finished_spans()[i] for i in (0, 1))
    assert f"{inside.context.trace_id:032x}" == "5759e988bd862e3fe1be46a994272793"  # pyright: ignore[reportOptionalMemberAccess]
    assert inside.parent is not None and f"{inside.parent.span_id:016x}" == "53995c3f42cd8ad8"
    assert f"{step.context.trace_id:032x}" == "4bf92f3577b34da6a3ce929d0e0e4736"  # pyright: ignore[reportOptionalMemberAccess]


def test_with_tracing_off_the_wrapper_is_a_plain_call(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", raising=False)
    assert not tracing.enabled()
    assert traced(lambda event, context: event["x"] * 2, {"x": 21}, None) == 42
    assert not tracing.enabled()
