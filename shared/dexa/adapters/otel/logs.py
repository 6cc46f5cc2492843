"""Log correlation: every log record carries the current trace and span ids.

A record factory, not a handler filter, so records of every logger and handler get them (the CLI's stderr lines,
Powertools' JSON logger in Lambda, which writes a record's extra attributes as keys). The names are the ones
OpenTelemetry's logging instrumentation uses (otelTraceID, otelSpanID), so existing log formats keep working.
"""

from __future__ import annotations

import logging
from typing import Any

from opentelemetry import trace

_installed = False


def install() -> None:
    global _installed
    if _installed:
        return
    _installed = True
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        ctx = trace.get_current_span().get_span_context()
        if ctx.is_valid:
            record.otelTraceID = format(ctx.trace_id, "032x")
            record.otelSpanID = format(ctx.span_id, "016x")
        else:
            record.otelTraceID = record.otelSpanID = "0"
        return record

    logging.setLogRecordFactory(factory)
