"""Fixtures for the egress tests: asyncio, and a socket directory short enough for a Unix socket path."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator

import pytest


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def sock_dir() -> Iterator[str]:
    # Unix socket paths are limited to 108 bytes; pytest's tmp_path can be longer.
    path = tempfile.mkdtemp(prefix="egress-", dir="/tmp")
    yield path
    shutil.rmtree(path, ignore_errors=True)
