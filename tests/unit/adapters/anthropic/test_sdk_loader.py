"""The anthropic SDK imported piecemeal (dexa.adapters.anthropic.sdk): a model call through the real client works,
retries an overloaded answer, and leaves the SDK's beta and organization types unimported; a name the package's
__init__ defines but no submodule map names still works, by running that __init__. With an OpenTelemetry tracer
provider set, the SDK's own spans are recorded through the deferred tracing functions.

Each case runs in a fresh interpreter: this test process imported `anthropic` whole already (conftest).
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from dexa.testing.messages_api import serve
from dexa.testing.script import Script

PROBE = """
import asyncio, json, os, sys
os.environ.update(ANTHROPIC_API_KEY="sk-test", ANTHROPIC_BASE_URL=sys.argv[1])  # the SDK reads these itself
from dexa.adapters.anthropic import make_model
from dexa.core.messages import user_text
from dexa.core.ports import ModelRequest

async def main():
    model = make_model("sonnet", os.environ)
    model.base_delay = 0.01
    retries = []
    async def sink(delta):
        if delta.kind == "retry":
            retries.append(delta.data["error_status"])
    reply = await model.complete(ModelRequest(model="sonnet", system="", messages=(user_text("u1", "hi"),)), sink)
    await model.aclose()
    return reply, retries

reply, retries = asyncio.run(main())
import anthropic
out = {
    "text": reply.message.content[0].text,
    "retries": retries,
    "beta_resources": "anthropic.resources.beta" in sys.modules,
    "organization": "anthropic.resources.organization" in sys.modules,
    "beta_package_init": "__getattr__" not in vars(sys.modules["anthropic.types.beta"]),
    "beta_params": "anthropic.types.beta.message_create_params" in sys.modules,
    "tracing_helpers": "anthropic.lib._tracing._api_call" in sys.modules,
    "error_classes_run": "__getattr__" not in vars(sys.modules["anthropic._error_classes"]),
    "sdk_modules": sum(1 for name in sys.modules if name.startswith("anthropic")),
    "full_init_before": "__getattr__" not in vars(anthropic),
}
# A name only the package's __init__ defines (a `*` re-export): the real __init__ runs, in place.
out["bedrock"] = anthropic.AsyncAnthropicBedrock.__name__
out["full_init_after"] = "__getattr__" not in vars(anthropic)
out["same_error_class"] = anthropic.APIStatusError is sys.modules["anthropic._exceptions"].APIStatusError
out["exported"] = "AsyncAnthropic" in anthropic.__all__
print(json.dumps(out))
"""


def _probe(url: str) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, "-c", PROBE, url], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_a_model_call_through_the_piecemeal_sdk_and_a_full_load_after_it() -> None:
    script = {"turns": [{"error": {"status": 529, "times": 1}, "text": "hello back"}]}
    with serve(Script.from_dict(script)) as server:
        out = _probe(server.url)
        assert len(server.message_requests()) == 2
    assert out["text"] == "hello back"
    assert out["retries"] == [529]  # the SDK's APIStatusError, classified by our retry policy
    assert not out["beta_resources"] and not out["organization"] and not out["beta_package_init"]
    assert not out["beta_params"] and not out["tracing_helpers"], out  # no tracer provider: no span attributes
    assert out["error_classes_run"], out  # the 529 went through the SDK's own make_status_error, run in place
    # About 1,200 (the whole SDK is about 3,000): ~720 for a request, ~490 more for the error classes the 529 loaded.
    assert out["sdk_modules"] < 1400, out
    assert not out["full_init_before"]
    assert out["bedrock"] == "AsyncAnthropicBedrock"
    assert out["full_init_after"] and out["same_error_class"] and out["exported"]


TRACED = """
import asyncio, json, os, sys
os.environ.update(ANTHROPIC_API_KEY="sk-test", ANTHROPIC_BASE_URL=sys.argv[1])
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
trace.set_tracer_provider(provider)

from dexa.adapters.anthropic import make_model
from dexa.core.messages import user_text
from dexa.core.ports import ModelRequest

async def main():
    model = make_model("sonnet", os.environ)
    reply = await model.complete(ModelRequest(model="sonnet", system="", messages=(user_text("u1", "hi"),)))
    await model.aclose()
    return reply

reply = asyncio.run(main())
spans = exporter.get_finished_spans()
print(json.dumps({
    "text": reply.message.content[0].text,
    "spans": [s.name for s in spans],
    "attributes": sorted(k for s in spans for k in (s.attributes or {})),
}))
"""


def test_with_a_tracer_provider_set_the_sdk_records_its_spans() -> None:
    """The tracing functions the piecemeal import defers are the SDK's own once called: a request made with a
    provider set leaves the SDK's span of the call, with its attributes (the deferred ones included)."""
    with serve(Script.from_dict({"turns": [{"text": "traced"}]})) as server:
        proc = subprocess.run([sys.executable, "-c", TRACED, server.url], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["text"] == "traced"
    assert len(out["spans"]) == 1, out
    assert "gen_ai.request.model" in out["attributes"], out


HTTP2 = """
import json, sys
import dexa.adapters.anthropic.sdk as sdk
sdk.load()
import httpcore2  # the SDK's transport: imports h2 by name for HTTP/2 connections
lazy = "__getattr__" in vars(sys.modules["h2.connection"])
import h2.config, h2.connection, h2.events
# First use runs the real modules: a client and a server connection talk HTTP/2 through them.
client = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=True))
server = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=False))
client.initiate_connection()
server.initiate_connection()
client.send_headers(1, [(":method", "GET"), (":path", "/"), (":scheme", "http"), (":authority", "x")], end_stream=True)
events = server.receive_data(client.data_to_send())
print(json.dumps({
    "lazy_before_use": lazy,
    "events": [type(e).__name__ for e in events],
    "request_received": any(isinstance(e, h2.events.RequestReceived) for e in events),
    "same_class": h2.events.RequestReceived is sys.modules["h2.events"].RequestReceived,
}))
"""


def test_http2_stays_unimported_until_used_and_is_the_real_h2_then() -> None:
    proc = subprocess.run([sys.executable, "-c", HTTP2], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["lazy_before_use"], out
    assert out["request_received"] and out["same_class"], out
    assert "RemoteSettingsChanged" in out["events"], out
