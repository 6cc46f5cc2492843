"""Long-form schemathesis run over every API operation (the suite runs the same file in a short form).

    .venv/bin/python benchmarks/schemathesis_long.py [--examples 40]

Runs tests/functional/api/test_api_schemathesis.py with DEXA_SCHEMATHESIS_EXAMPLES set, then prints how many
requests were generated, per status code, and whether any check failed (server errors, undocumented statuses,
content types, response schemas or headers that violate the OpenAPI document, accepted invalid data).
Target: >= 1,000 requests, 0 failures.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEST = "tests/functional/api/schemathesis_suite.py"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=40, help="fuzzed examples per operation (plus coverage)")
    args = parser.parse_args()
    report = Path(tempfile.mkdtemp(prefix="dexa-schemathesis-")) / "report.json"
    env = {**os.environ, "DEXA_SCHEMATHESIS_EXAMPLES": str(args.examples), "DEXA_SCHEMATHESIS_REPORT": str(report)}
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", TEST, "-q", "-p", "no:cacheprovider", "--timeout", "3600"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    took = time.monotonic() - started
    if not report.exists():
        print(proc.stdout[-5000:], proc.stderr[-2000:], sep="\n")
        print("no report written: the run failed before counting")
        return 1
    data = json.loads(report.read_text())
    statuses: Counter[str] = Counter()
    operations: set[str] = set()
    for key, n in data["by_status"].items():
        op, _, status = key.rpartition(" ")
        operations.add(op)
        statuses[status] += n
    failed = proc.returncode != 0
    print(f"operations          {len(operations)}")
    print(f"requests            {data['total']} in {took:.1f} s ({data['total'] / took:.0f}/s)")
    print("by status           " + ", ".join(f"{s}: {n}" for s, n in sorted(statuses.items())))
    print(f"server errors       {sum(n for s, n in statuses.items() if s.startswith('5'))}")
    print(f"check failures      {'yes, see below' if failed else 0}")
    if failed:
        print(proc.stdout[-8000:])
    ok = not failed and data["total"] >= 1000
    print("RESULT              " + ("PASS" if ok else "FAIL (targets: >= 1,000 requests, 0 failures)"))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
