"""Every Lambda shim loads in a fresh process with no AWS credentials or network: a shim can not rot unnoticed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HANDLERS = sorted((ROOT / "functions").glob("*/handler.py"))
LOAD = """
import runpy, sys
namespace = runpy.run_path(sys.argv[1])
assert callable(namespace.get("handler")), "no callable `handler`"
loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("modal", "anthropic"))
assert not loaded, f"the shim imported {loaded} at load time"
print("ok")
"""


def test_there_is_a_shim_per_function() -> None:
    assert [p.parent.name for p in HANDLERS] == ["agent_step", "api", "reconciler", "scheduler", "webhooks"]


@pytest.mark.parametrize("handler", HANDLERS, ids=lambda p: p.parent.name)
def test_shim_loads_in_a_fresh_process_without_aws(handler: Path, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        {
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_CONFIG_FILE": str(tmp_path / "none"),
            "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
            "HOME": str(tmp_path),
        }
    )
    out = subprocess.run(
        [sys.executable, "-c", LOAD, str(handler)], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]


@pytest.mark.parametrize("handler", HANDLERS, ids=lambda p: p.parent.name)
def test_shim_is_thin(handler: Path) -> None:
    lines = [line for line in handler.read_text().splitlines() if line.strip()]
    assert len(lines) <= 15, f"{handler} has {len(lines)} lines; logic belongs in dexa.adapters.aws"
