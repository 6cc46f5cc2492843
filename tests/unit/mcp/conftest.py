"""Fixtures for the MCP adapter unit tests (in-process servers; helpers live in mcp_testkit.py)."""

from __future__ import annotations

import pytest


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
