"""Real third-party MCP servers: npm server-everything (tools/mcp, `npm ci`) and the PyPI time/git servers."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
EVERYTHING = REPO / "tools/mcp/node_modules/@modelcontextprotocol/server-everything/dist/index.js"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def everything_js() -> str:
    path = Path(os.environ.get("DEXA_MCP_EVERYTHING", EVERYTHING))
    if shutil.which("node") is None:
        pytest.skip("node is not installed: server-everything tests need Node.js 20+")
    if not path.is_file():
        pytest.skip(f"server-everything is not installed at {path}: run `npm ci` in tools/mcp (make test does)")
    return str(path)


@pytest.fixture
def python() -> str:
    return sys.executable
