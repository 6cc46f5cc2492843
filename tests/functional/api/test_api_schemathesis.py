"""Schemathesis over every API operation, short form (the long form is benchmarks/schemathesis_long.py).

The property suite lives in schemathesis_suite.py and runs in its own pytest process: schemathesis' parametrized
cases do not survive xdist distribution, and the count of generated requests must be checked after they all ran.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

SUITE = Path(__file__).with_name("schemathesis_suite.py")


def test_every_operation_conforms_to_the_openapi_document(tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    env = {**os.environ, "DEXA_SCHEMATHESIS_REPORT": str(report)}
    proc = subprocess.run([sys.executable, "-m", "pytest", str(SUITE), "-q", "-p", "no:cacheprovider", "-p",
                           "no:xdist"], cwd=SUITE.parents[3], env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-6000:]
    data = json.loads(report.read_text())
    operations = {key.rpartition(" ")[0] for key in data["by_status"]}
    server_errors = sum(n for key, n in data["by_status"].items() if key.rpartition(" ")[2].startswith("5"))
    assert data["total"] >= 300 and len(operations) >= 25 and server_errors == 0, data
