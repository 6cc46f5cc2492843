"""Bedrock and AWS are extras (`dexa[bedrock]`, `dexa[aws]`): without boto3, what needs it fails up front naming them.

The dev environment has botocore, so a sitecustomize hides it from the `dexa` process, as a runtime-only install
(`make demo`, `uv tool install .`) would lack it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HIDE_BOTO = "import sys\nsys.modules['boto3'] = None\nsys.modules['botocore'] = None\n"


def _dexa_without_boto(tmp_path: Path, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(HIDE_BOTO)
    project = tmp_path / "project"
    project.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "AWS_", "DEXA_"))}
    env |= {"PYTHONPATH": str(site), "DEXA_HOME": str(tmp_path / "home"), "HOME": str(tmp_path), "COLUMNS": "400"}
    return subprocess.run(
        [sys.executable, "-m", "dexa.cli", *args],
        env=env | extra,
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_bedrock_without_the_extra_names_the_extra_to_install(tmp_path: Path) -> None:
    done = _dexa_without_boto(tmp_path, "run", "-p", "hello", CLAUDE_CODE_USE_BEDROCK="1")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "the Bedrock client (boto3/botocore) is not installed" in done.stderr
    assert "pip install 'dexa[bedrock]'" in done.stderr
    assert "Traceback" not in done.stderr


def test_cloud_without_the_aws_extra_names_the_extra_to_install(tmp_path: Path) -> None:
    done = _dexa_without_boto(tmp_path, "cloud", "bootstrap", "--org", "Acme", "--admin", "Ann")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "boto3, which is not installed" in done.stderr and "pip install 'dexa[aws]'" in done.stderr
    assert "Traceback" not in done.stderr
