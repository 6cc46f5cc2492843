"""Building a session's model does not import the Anthropic SDK (1-2 s of a Lambda cold start): the first request does.

A step Lambda builds the session environment, model included, for every task; only call_model uses the model."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import sys
from dexa.adapters.anthropic import make_model
model = make_model("sonnet", {"ANTHROPIC_API_KEY": "sk-test"})
print("anthropic" in sys.modules)
model._client
print("anthropic" in sys.modules, type(model._client).__name__)
"""


def test_the_sdk_is_imported_by_the_first_request_not_by_building_the_model() -> None:
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "True", "AsyncAnthropic"], out
