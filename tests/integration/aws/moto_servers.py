"""moto in server mode for tests that run Lambda code as its own process, and what they reach it with."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REGION = "us-east-1"
ROOT = Path(__file__).resolve().parents[3]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def moto_server_process() -> Iterator[str]:
    """moto's server in its own process: no in-process mock of another test can reset its state, and this test
    process never imports moto for it (clients made before moto's hook would reach AWS in later mocked tests)."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, "moto server did not start"
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


def server_client(endpoint: str, service: str) -> Any:
    """A client of the moto server at `endpoint`, from a session of its own (boto3's default session is shared
    with mocked tests)."""
    import boto3.session

    session = boto3.session.Session(aws_access_key_id="t", aws_secret_access_key="t", region_name=REGION)
    return session.client(service, endpoint_url=endpoint)


def lambda_env(
    moto: str,
    tmp_path: Path,
    *,
    function: str,
    code_dir: Path,
    table: str,
    bucket: str,
    machine: str,
    package_root: Path = ROOT / "shared",
    **extra: str,
) -> dict[str, str]:
    """The environment of a Dexa function run as its own process against the moto server at `moto`: Lambda's own
    variables, test credentials, and what every stack sets (stacks/common.py); `extra` adds the function's own.
    `code_dir` is the function's asset (its handler module), `package_root` where `dexa` is imported from."""
    return {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path / "no-home"),  # Lambda's HOME: not writable (here it does not even exist)
        "LANG": "C.UTF-8",
        "PYTHONPATH": f"{code_dir}:{package_root}",
        "AWS_LAMBDA_FUNCTION_NAME": function,
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "t",
        "AWS_SECRET_ACCESS_KEY": "t",
        "AWS_ENDPOINT_URL": moto,
        "POWERTOOLS_SERVICE_NAME": "dexa",
        "POWERTOOLS_METRICS_NAMESPACE": "Dexa",
        "DEXA_HOSTED": "true",
        "DEXA_STORE": "dynamo",
        "DEXA_SANDBOX": "modal",
        "DEXA_HOME": str(tmp_path / "lambda-tmp"),  # Lambda's /tmp
        "DEXA_TABLE": table,
        "DEXA_BUCKET": bucket,
        "DEXA_STATE_MACHINE_ARN": machine,
        "DEXA_MAIL_FROM": "dexa@e2e.example",
        **extra,
    }
