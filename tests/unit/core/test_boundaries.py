"""Arrows point inward: importing the core must not load any vendor SDK or web framework."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys

import dexa.core

VENDORS = ("anthropic", "boto3", "botocore", "modal", "mcp", "fastapi", "starlette", "mangum", "httpx")


def test_core_imports_no_vendor_module() -> None:
    modules = [f"dexa.core.{m.name}" for m in pkgutil.iter_modules(dexa.core.__path__)]
    code = (
        "import importlib, json, sys\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        f"print(json.dumps(sorted(v for v in {VENDORS!r} if v in sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []
    assert len(modules) >= 10
