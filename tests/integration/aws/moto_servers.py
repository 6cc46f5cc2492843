"""moto in server mode for tests that run Lambda code as its own process, and what they reach it with."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

REGION = "us-east-1"


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
