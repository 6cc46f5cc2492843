"""The event-stream function answers the Lambda Web Adapter's readiness check at once: a client's first connection
waits for it (issue 14: spawn -> ready took 2.25 s while the whole runtime was built first). The server is run as
the adapter runs it, its own process; the runtime is built behind the check, and a request that comes before the
build is done waits for it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from moto_servers import free_port

REGION = "us-east-1"


def spawn(tmp_path: Path, moto_server: str, **extra: str) -> tuple[subprocess.Popen[str], str, float]:
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DEXA_"))},
        "AWS_ENDPOINT_URL": moto_server,
        "AWS_ACCESS_KEY_ID": "t",
        "AWS_SECRET_ACCESS_KEY": "t",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_LWA_PORT": str(port),
        "DEXA_STORE": "dynamo",
        "DEXA_HOSTED": "1",
        "DEXA_HOME": str(tmp_path / "home"),
        "HOME": str(tmp_path),
        **extra,
    }
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "dexa.cloud.stream"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    return proc, f"http://127.0.0.1:{port}", started


def first_health(proc: subprocess.Popen[str], base: str) -> httpx.Response:
    """Poll /health as the adapter does (every 10 ms here) until it answers."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            return httpx.get(f"{base}/health", timeout=2)
        except httpx.TransportError:
            if proc.poll() is not None:
                pytest.fail(f"the stream server exited: {proc.communicate()[1][-2000:]}")
            time.sleep(0.01)
    pytest.fail("the stream server never answered /health")


@pytest.fixture
def table(moto_server: str, tmp_path: Path) -> dict[str, str]:
    import boto3

    from dexa.adapters.aws.dynamo_store import DynamoStore

    creds = {"region_name": REGION, "endpoint_url": moto_server, "aws_access_key_id": "t", "aws_secret_access_key": "t"}
    name = f"dexa-ready-{tmp_path.name}"[:60]
    bucket = name.lower()
    boto3.client("s3", **creds).create_bucket(Bucket=bucket)
    DynamoStore(name, client=boto3.client("dynamodb", **creds)).create_table()
    return {"DEXA_TABLE": name, "DEXA_BUCKET": bucket}


def test_readiness_answers_before_the_runtime_is_built_and_requests_wait_for_it(
    tmp_path: Path, moto_server: str, table: dict[str, str]
) -> None:
    proc, base, started = spawn(tmp_path, moto_server, **table)
    try:
        health = first_health(proc, base)
        ready = time.monotonic() - started
        # The check was answered by the server itself, before the app existed.
        assert health.status_code == 200 and health.json() == {"status": "ok", "ready": False}, health.text
        # A request right after readiness (the adapter's first invoke) waits for the build and gets the app's answer.
        asked = time.monotonic()
        refused = httpx.get(f"{base}/sessions/ses_x/events", timeout=60)
        waited = time.monotonic() - asked
        assert refused.status_code == 401, refused.text  # the app's own authentication, not the placeholder
        assert refused.headers["content-type"] == "application/problem+json"
        # Once built, /health is the app's own.
        built: dict[str, Any] = httpx.get(f"{base}/health", timeout=10).json()
        assert "ready" not in built and built.get("version"), built
        print(f"\nstream server: spawn -> ready {ready * 1000:.0f} ms, first request waited {waited * 1000:.0f} ms")
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_a_runtime_that_cannot_be_built_is_a_503_naming_the_cause(tmp_path: Path, moto_server: str) -> None:
    proc, base, _ = spawn(tmp_path, moto_server, DEXA_TABLE="t")  # no DEXA_BUCKET
    try:
        assert first_health(proc, base).status_code == 200
        failed = httpx.get(f"{base}/sessions/ses_x/events", timeout=60)
        assert failed.status_code == 503, failed.text
        assert failed.headers["content-type"] == "application/problem+json"
        assert "DEXA_BUCKET" in failed.json()["detail"], failed.text
    finally:
        proc.terminate()
        proc.wait(timeout=10)
