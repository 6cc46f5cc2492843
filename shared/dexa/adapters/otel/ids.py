"""Span and trace ids: X-Ray-shaped trace ids, and a span id chosen in advance (the turn span, tracing.reserve)."""

from __future__ import annotations

import contextvars
import random
import time
from collections.abc import Iterator
from contextlib import contextmanager

from opentelemetry.sdk.trace.id_generator import IdGenerator

# (trace id, span id) the next span must take: set only around recording a span whose id was reserved earlier.
_forced: contextvars.ContextVar[tuple[int, int] | None] = contextvars.ContextVar("dexa_otel_forced_ids", default=None)


class DexaIds(IdGenerator):
    """Random ids, except that a trace id starts with the epoch second (X-Ray's format, which X-Ray requires of
    trace ids it accepts from OpenTelemetry) and a reserved span is recreated with its reserved ids."""

    def generate_trace_id(self) -> int:
        forced = _forced.get()
        if forced is not None:
            return forced[0]
        return (int(time.time()) << 96) | (random.getrandbits(96) or 1)

    def generate_span_id(self) -> int:
        forced = _forced.get()
        if forced is not None:
            return forced[1]
        return random.getrandbits(64) or 1

    def is_trace_id_random(self) -> bool:
        return False  # only the low 96 bits are


@contextmanager
def forced(trace_id: int, span_id: int) -> Iterator[None]:
    token = _forced.set((trace_id, span_id))
    try:
        yield
    finally:
        _forced.reset(token)
