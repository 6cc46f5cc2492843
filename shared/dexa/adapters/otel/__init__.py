"""OpenTelemetry behind dexa.core.tracing: spans, metrics and log correlation, exported by OTLP/HTTP.

Nothing here is imported unless tracing is wanted (dexa.core.tracing.wanted: OTEL_EXPORTER_OTLP_ENDPOINT set), so a
run without it never loads the SDK. The SDK comes with the `otel` extra: `pip install 'dexa[otel]'`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from dexa.core import tracing

logger = logging.getLogger(__name__)


def install_from_env(env: Mapping[str, str]) -> bool:
    """Install the OTLP-exporting tracer once per process when `env` asks for it; True when tracing is on.

    Without the `otel` extra this warns and carries on untraced: observability must never stop a session."""
    if tracing.enabled():
        return True
    if not tracing.wanted(env):
        return False
    try:
        from .provider import build_exporting
    except ImportError as exc:
        logger.warning(
            "OTEL_EXPORTER_OTLP_ENDPOINT is set but OpenTelemetry is not installed (%s): "
            "install dexa[otel]; running without traces",
            exc,
        )
        return False
    tracing.install(build_exporting(env))
    return True


def build(**kwargs: Any) -> tracing.Tracer:
    """A tracer over given exporters/readers (tests: the SDK's InMemorySpanExporter and InMemoryMetricReader)."""
    from .provider import build_with

    return build_with(**kwargs)
