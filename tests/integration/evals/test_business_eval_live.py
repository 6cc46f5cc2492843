"""The business eval against the real model: one run per task, printing pass^1 and cost per task (needs a key)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.live
def test_the_live_business_eval_runs_and_reports_pass_hat_k_and_cost() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "evals.business", "--live", "-k", "1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=3600,
    )
    print(done.stdout)
    assert done.returncode == 0, done.stderr
    assert "pass^1=" in done.stdout and "per task" in done.stdout
