"""Tracing: what the turn tells an observer (spans, metrics), with no vendor import.

Off by default, and then every call below is a no-op costing one method call: no span objects, no clock reads, no
OpenTelemetry import. `dexa.adapters.otel.install()` swaps in the OpenTelemetry implementation when an OTLP
endpoint is configured (wiring decides). Core code calls the module functions (`span`, `count`...), which read
the installed tracer at call time, so installing late still takes effect.

Trace context crosses process boundaries as W3C traceparent strings ("00-<32 hex trace>-<16 hex span>-<2 hex>"):
an API request header, the turn state in the store, a Step Functions execution input.

A turn outlives any one process (under Step Functions each step is a Lambda invocation), so its span cannot be
held open. Instead `reserve()` picks the turn span's id when the turn is submitted; steps run as its children
wherever they run, and `record()` writes the turn span itself, with that id and its real start time, when the
turn ends.
"""

from __future__ import annotations

import re
from collections.abc import Generator, Mapping
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar
from typing import Final

Attr = str | bool | int | float
Attrs = Mapping[str, Attr | None]

_TRACEPARENT: Final = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
OTLP_ENDPOINT_VARS: Final = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")


def parse_traceparent(value: str | None) -> tuple[str, str, bool] | None:
    """(trace id, span id, sampled) of a W3C traceparent, or None when it is absent or malformed (never raises:
    the header comes from callers, and a bad one only means a new trace)."""
    match = _TRACEPARENT.match((value or "").strip().lower())
    if match is None or match.group(1) == "0" * 32 or match.group(2) == "0" * 16:
        return None
    return match.group(1), match.group(2), bool(int(match.group(3), 16) & 1)


def wanted(env: Mapping[str, str]) -> bool:
    """Is export configured? An OTLP endpoint, and the SDK not disabled by OTEL_SDK_DISABLED."""
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    return any(env.get(name, "").strip() for name in OTLP_ENDPOINT_VARS)


class Span:
    """A span being recorded. This base records nothing; the OpenTelemetry adapter's subclass does."""

    __slots__ = ()

    def set(self, key: str, value: Attr | None) -> None:
        """One attribute; None is skipped (an unknown value is left out, not written as "None")."""

    def update(self, attrs: Attrs) -> None:
        for key, value in attrs.items():
            self.set(key, value)

    def fail(self, message: str) -> None:
        """Mark the span's outcome an error (an exception escaping the span does this by itself)."""


class _NoopScope(AbstractContextManager[Span]):
    __slots__ = ()

    def __enter__(self) -> Span:
        return _NOOP_SPAN

    def __exit__(self, *exc: object) -> None:
        return None


class _NoopContext(AbstractContextManager[None]):
    __slots__ = ()

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


_NOOP_SPAN: Final = Span()
_NOOP_SCOPE: Final = _NoopScope()
_NOOP_CONTEXT: Final = _NoopContext()


class Tracer:
    """The no-op tracer (tracing off). The OpenTelemetry adapter overrides every method."""

    enabled: bool = False

    def span(self, name: str, attrs: Attrs | None = None) -> AbstractContextManager[Span]:
        """A child of the current span for the `with` block; an escaping exception marks it failed."""
        return _NOOP_SCOPE

    def continue_from(self, traceparent: str | None) -> AbstractContextManager[None]:
        """Make `traceparent` the current parent for the block (nothing changes when it is empty or malformed)."""
        return _NOOP_CONTEXT

    def traceparent(self) -> str:
        """The current span as a traceparent, "" when there is none."""
        return ""

    def reserve(self) -> tuple[str, str]:
        """(traceparent of a span to be recorded later, traceparent of its parent or ""): the turn span's id is
        chosen at submit, in the current trace or a new one."""
        return "", ""

    def record(
        self,
        name: str,
        *,
        start: float,
        end: float,
        attrs: Attrs | None = None,
        span: str = "",
        parent: str = "",
        error: str = "",
    ) -> None:
        """A span already over, with its wall-clock times (epoch seconds): the turn (with the id `reserve` gave,
        `span`) or an approval wait. Without `span`, a fresh id under `parent` or the current span. A non-empty
        `error` marks it failed."""

    def count(self, name: str, value: float, attrs: Attrs | None = None) -> None:
        """Add to a counter (cost, calls)."""

    def observe(self, name: str, value: float, attrs: Attrs | None = None) -> None:
        """Record into a histogram (latencies in seconds, token counts)."""

    def flush(self) -> None:
        """Export what is buffered now (a Lambda freezes after returning; a CLI process ends)."""


_tracer: Tracer = Tracer()
# The tool whose run is in progress in this context: model calls made inside it (a subagent) count their cost
# against it too. Set only while tracing is on.
_tool: ContextVar[str | None] = ContextVar("dexa_tracing_tool", default=None)


def install(tracer: Tracer) -> Tracer:
    """Make `tracer` the process's tracer; returns the previous one (tests put it back)."""
    global _tracer
    previous, _tracer = _tracer, tracer
    return previous


def tracer() -> Tracer:
    return _tracer


def enabled() -> bool:
    return _tracer.enabled


def span(name: str, attrs: Attrs | None = None) -> AbstractContextManager[Span]:
    return _tracer.span(name, attrs)


def continue_from(traceparent: str | None) -> AbstractContextManager[None]:
    return _tracer.continue_from(traceparent)


def count(name: str, value: float, attrs: Attrs | None = None) -> None:
    _tracer.count(name, value, attrs)


def observe(name: str, value: float, attrs: Attrs | None = None) -> None:
    _tracer.observe(name, value, attrs)


def current_tool() -> str | None:
    return _tool.get()


@contextmanager
def tool_scope(name: str) -> Generator[None]:
    token = _tool.set(name)
    try:
        yield
    finally:
        _tool.reset(token)


@contextmanager
def installed(tracer: Tracer) -> Generator[Tracer]:
    """`tracer` for the block (tests)."""
    previous = install(tracer)
    try:
        yield tracer
    finally:
        install(previous)
