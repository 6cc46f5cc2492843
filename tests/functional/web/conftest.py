"""Fixtures for the web router tests (helpers live in web_router_harness.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from web_router_harness import WebApp, build


@pytest.fixture
def web(tmp_path: Path) -> WebApp:
    return build(tmp_path)


@pytest.fixture
def client(web: WebApp) -> Iterator[TestClient]:
    with web.client() as c:
        yield c
