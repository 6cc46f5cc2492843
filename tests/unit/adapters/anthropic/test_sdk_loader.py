"""The anthropic SDK imported piecemeal (dexa.adapters.anthropic.sdk): a model call through the real client works,
retries an overloaded answer, and leaves the SDK's beta and organization types unimported; a name the package's
__init__ defines but no submodule map names still works, by running that __init__.

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
    assert out["sdk_modules"] < 2000, out  # about 1,500 (the whole SDK is about 3,000)
    assert not out["full_init_before"]
    assert out["bedrock"] == "AsyncAnthropicBedrock"
    assert out["full_init_after"] and out["same_error_class"] and out["exported"]
