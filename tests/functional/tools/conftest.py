"""Fixtures for the code-tool functional tests: a real bwrap LocalSandbox and a tool context over it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from dexa.adapters.local_sandbox import LocalSandbox
from dexa.core.tools import ToolContext
from dexa.testing.fakes import tool_context


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    path = tmp_path / "ws"
    path.mkdir()
    return path.resolve()


@pytest.fixture
async def workspace(root: Path, tmp_path: Path) -> AsyncIterator[LocalSandbox]:
    box = LocalSandbox(str(root), state_dir=str(tmp_path / "state"))
    yield box
    await box.close()


@pytest.fixture
def events() -> list[tuple[str, dict[str, Any]]]:
    return []


@pytest.fixture
def ctx(workspace: LocalSandbox, root: Path, events: list[tuple[str, dict[str, Any]]]) -> ToolContext:
    return tool_context(workspace, str(root), events)
