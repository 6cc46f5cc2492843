"""Fixtures for the API tests (helpers live in api_harness.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from api_harness import Api, make_api
from fastapi.testclient import TestClient


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def api(tmp_path: Path) -> Api:
    return make_api(tmp_path)


@pytest.fixture
def client(api: Api) -> Iterator[TestClient]:
    with TestClient(api.app, raise_server_exceptions=True) as c:
        yield c
