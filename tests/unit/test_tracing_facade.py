"""The tracing facade off (the default): no-ops that allocate nothing, and no OpenTelemetry SDK loaded."""

from __future__ import annotations

import subprocess
import sys

from dexa.core import tracing


def test_off_by_default_everything_is_a_shared_no_op() -> None:
    assert not tracing.enabled()
    first, second = tracing.span("a", {"k": 1}), tracing.span("b")
    assert first is second  # one shared object: nothing allocated per call
    with first as span:
        span.set("k", 1)
        span.fail("nothing recorded")
    with tracing.continue_from("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"):
        assert tracing.tracer().traceparent() == ""
    assert tracing.tracer().reserve() == ("", "")
    tracing.count("dexa.cost", 1.0)
    tracing.observe("dexa.step.duration", 0.1)
    tracing.tracer().record("x", start=0.0, end=1.0)
    assert tracing.current_tool() is None


def test_wanted_means_an_otlp_endpoint_and_the_sdk_not_disabled() -> None:
    assert not tracing.wanted({})
    assert not tracing.wanted({"OTEL_EXPORTER_OTLP_ENDPOINT": "  "})
    assert tracing.wanted({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"})
    assert tracing.wanted({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces"})
    assert not tracing.wanted({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://x", "OTEL_SDK_DISABLED": "true"})


def test_installing_from_an_environment_without_an_endpoint_loads_nothing() -> None:
    code = (
        "import sys; from dexa.adapters.otel import install_from_env; from dexa.core import tracing\n"
        "assert install_from_env({}) is False and not tracing.enabled()\n"
        "loaded = [m for m in sys.modules if m.startswith(('opentelemetry.sdk', 'opentelemetry.exporter'))]\n"
        "assert not loaded, loaded\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
