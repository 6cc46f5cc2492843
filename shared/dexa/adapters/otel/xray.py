"""The bridge to AWS X-Ray, in ids only (no SDK): Lambda's X-Ray trace header as a W3C traceparent.

In Lambda, Powertools' Tracer keeps recording X-Ray segments through the X-Ray SDK, as before; it does not speak
OpenTelemetry. Dexa's OTel spans join the same trace instead: an invocation with no traceparent of its own continues
from `_X_AMZN_TRACE_ID` (Root -> trace id, Parent -> parent span id), and new trace ids are X-Ray-shaped (the first
32 bits are the epoch second, ids.py), so an OTLP collector that exports to X-Ray (ADOT) files both under one trace.
"""

from __future__ import annotations

import re

_ROOT = re.compile(r"(?:^|;)\s*Root=1-([0-9a-fA-F]{8})-([0-9a-fA-F]{24})")
_PARENT = re.compile(r"(?:^|;)\s*Parent=([0-9a-fA-F]{16})")
_SAMPLED = re.compile(r"(?:^|;)\s*Sampled=([01?])")


def traceparent_from_xray(header: str | None) -> str:
    """ "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1" ->
    "00-5759e988bd862e3fe1be46a994272793-53995c3f42cd8ad8-01"; "" when there is no usable root and parent."""
    root, parent = _ROOT.search(header or ""), _PARENT.search(header or "")
    if root is None or parent is None:
        return ""
    sampled = _SAMPLED.search(header or "")
    flags = "00" if sampled is not None and sampled.group(1) == "0" else "01"
    return f"00-{(root.group(1) + root.group(2)).lower()}-{parent.group(1).lower()}-{flags}"
