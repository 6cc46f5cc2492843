"""Bedrock is an extra (`dexa[bedrock]`): without boto3/botocore, CLAUDE_CODE_USE_BEDROCK=1 fails up front, naming it.

The dev environment has botocore, so a sitecustomize hides it from the `dexa` process, as a runtime-only install
(`make demo`, `uv tool install .`) would lack it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HIDE_BOTO = "import sys\nsys.modules['boto3'] = None\nsys.modules['botocore'] = None\n"


def test_bedrock_without_the_extra_names_the_extra_to_install(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(HIDE_BOTO)
    project = tmp_path / "project"
    project.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "AWS_"))}
    env |= {
        "PYTHONPATH": str(site),
        "DEXA_HOME": str(tmp_path / "home"),
        "HOME": str(tmp_path),
        "CLAUDE_CODE_USE_BEDROCK": "1",
        "COLUMNS": "400",
    }
    done = subprocess.run(
        [sys.executable, "-m", "dexa.cli", "run", "-p", "hello"],
        env=env,
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "the Bedrock client (boto3/botocore) is not installed" in done.stderr
    assert "pip install 'dexa[bedrock]'" in done.stderr
    assert "Traceback" not in done.stderr
