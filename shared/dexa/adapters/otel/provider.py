"""dexa.core.tracing.Tracer on the OpenTelemetry SDK."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.metrics import Counter, Histogram, Meter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter
from opentelemetry.trace import NonRecordingSpan, SpanContext, Status, StatusCode, TraceFlags

from dexa.core import tracing

from . import logs
from .ids import DexaIds, forced

# Units of the instruments dexa records (OpenTelemetry GenAI semantic conventions where they have one).
UNITS = {
    "dexa.cost": "USD",
    "dexa.tool.calls": "{call}",
    "gen_ai.client.operation.duration": "s",
    "gen_ai.client.token.usage": "{token}",
    "dexa.tool.duration": "s",
    "dexa.step.duration": "s",
}
# Explicit buckets for the latency histograms: agent steps and tools run from milliseconds to minutes.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900)


def _clean(attrs: tracing.Attrs | None) -> dict[str, tracing.Attr]:
    return {k: v for k, v in (attrs or {}).items() if v is not None}


def _remote(traceparent: str) -> Any:
    """An OTel context whose current span is the one `traceparent` names, or None."""
    parsed = tracing.parse_traceparent(traceparent)
    if parsed is None:
        return None
    trace_id, span_id, sampled = parsed
    span_context = SpanContext(
        int(trace_id, 16),
        int(span_id, 16),
        is_remote=True,
        trace_flags=TraceFlags(TraceFlags.SAMPLED if sampled else TraceFlags.DEFAULT),
    )
    return trace.set_span_in_context(NonRecordingSpan(span_context), otel_context.Context())


def _format(ctx: SpanContext) -> str:
    return f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{int(ctx.trace_flags):02x}"


class OtelSpan(tracing.Span):
    __slots__ = ("_span",)

    def __init__(self, span: trace.Span) -> None:
        self._span = span

    def set(self, key: str, value: tracing.Attr | None) -> None:
        if value is not None:
            self._span.set_attribute(key, value)

    def fail(self, message: str) -> None:
        self._span.set_status(Status(StatusCode.ERROR, message))


class OtelTracer(tracing.Tracer):
    enabled = True

    def __init__(self, provider: TracerProvider, meters: MeterProvider | None = None) -> None:
        self.provider = provider
        self.meters = meters
        self._tracer = provider.get_tracer("dexa")
        self._meter: Meter | None = meters.get_meter("dexa") if meters is not None else None
        self._counters: dict[str, Counter] = {}
        self._histograms: dict[str, Histogram] = {}

    @contextmanager
    def _span(self, name: str, attrs: tracing.Attrs | None) -> Iterator[tracing.Span]:
        with self._tracer.start_as_current_span(name, attributes=_clean(attrs)) as span:
            yield OtelSpan(span)

    def span(self, name: str, attrs: tracing.Attrs | None = None) -> AbstractContextManager[tracing.Span]:
        return self._span(name, attrs)

    @contextmanager
    def _continue(self, traceparent: str | None) -> Iterator[None]:
        remote = _remote(traceparent or "")
        if remote is None:
            yield
            return
        token = otel_context.attach(remote)
        try:
            yield
        finally:
            otel_context.detach(token)

    def continue_from(self, traceparent: str | None) -> AbstractContextManager[None]:
        return self._continue(traceparent)

    def traceparent(self) -> str:
        ctx = trace.get_current_span().get_span_context()
        return _format(ctx) if ctx.is_valid else ""

    def reserve(self) -> tuple[str, str]:
        ids = self.provider.id_generator
        current = trace.get_current_span().get_span_context()
        trace_id = current.trace_id if current.is_valid else ids.generate_trace_id()
        flags = int(current.trace_flags) if current.is_valid else 1
        reserved = f"00-{trace_id:032x}-{ids.generate_span_id():016x}-{flags:02x}"
        return reserved, (_format(current) if current.is_valid else "")

    def record(
        self,
        name: str,
        *,
        start: float,
        end: float,
        attrs: tracing.Attrs | None = None,
        span: str = "",
        parent: str = "",
        error: str = "",
    ) -> None:
        parent_ctx = _remote(parent) if parent else None
        if parent_ctx is None and not span:
            parent_ctx = otel_context.get_current()
        if parent_ctx is None:
            parent_ctx = otel_context.Context()  # a root span (the turn of a trace that began with it)
        reserved = tracing.parse_traceparent(span)
        if reserved is not None:
            with forced(int(reserved[0], 16), int(reserved[1], 16)):
                started = self._tracer.start_span(
                    name, context=parent_ctx, attributes=_clean(attrs), start_time=int(start * 1e9)
                )
        else:
            started = self._tracer.start_span(
                name, context=parent_ctx, attributes=_clean(attrs), start_time=int(start * 1e9)
            )
        if error:
            started.set_status(Status(StatusCode.ERROR, error))
        started.end(end_time=int(max(end, start) * 1e9))

    def count(self, name: str, value: float, attrs: tracing.Attrs | None = None) -> None:
        if self._meter is None:
            return
        counter = self._counters.get(name)
        if counter is None:
            counter = self._counters[name] = self._meter.create_counter(name, unit=UNITS.get(name, ""))
        counter.add(value, attributes=_clean(attrs))

    def observe(self, name: str, value: float, attrs: tracing.Attrs | None = None) -> None:
        if self._meter is None:
            return
        histogram = self._histograms.get(name)
        if histogram is None:
            unit = UNITS.get(name, "")
            buckets = LATENCY_BUCKETS if unit == "s" else None
            histogram = self._histograms[name] = self._meter.create_histogram(
                name, unit=unit, explicit_bucket_boundaries_advisory=buckets
            )
        histogram.record(value, attributes=_clean(attrs))

    def flush(self) -> None:
        self.provider.force_flush()
        if self.meters is not None:
            self.meters.force_flush()


def _resource(env: Mapping[str, str]) -> Resource:
    # OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES are read by Resource.create itself; "dexa" is the fallback.
    attrs: dict[str, Any] = {}
    if not env.get("OTEL_SERVICE_NAME"):
        attrs["service.name"] = "dexa"
    return Resource.create(attrs)


def build_with(
    *,
    span_exporter: SpanExporter | None = None,
    processor: SpanProcessor | None = None,
    metric_reader: MetricReader | None = None,
    env: Mapping[str, str] | None = None,
) -> OtelTracer:
    env = os.environ if env is None else env
    provider = TracerProvider(resource=_resource(env), id_generator=DexaIds())
    if processor is None and span_exporter is not None:
        processor = SimpleSpanProcessor(span_exporter)
    if processor is not None:
        provider.add_span_processor(processor)
    meters = MeterProvider(resource=provider.resource, metric_readers=[metric_reader]) if metric_reader else None
    logs.install()
    return OtelTracer(provider, meters)


def build_exporting(env: Mapping[str, str]) -> OtelTracer:
    """Spans and metrics to the OTLP/HTTP endpoint of the standard OTEL_EXPORTER_OTLP_* variables."""
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

    tracer = build_with(
        processor=BatchSpanProcessor(OTLPSpanExporter()),
        metric_reader=PeriodicExportingMetricReader(OTLPMetricExporter()),
        env=env,
    )
    # Global too, so libraries that trace through the OpenTelemetry API join the same trees.
    trace.set_tracer_provider(tracer.provider)
    return tracer
