"""Fixtures for the LocalSandbox functional tests: real bwrap, real processes, temp dirs."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from dexa.adapters.local_sandbox import LocalSandbox
from dexa.testing.procs import processes_with as _processes_with
from dexa.testing.procs import wait_until as _wait_until


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    path = tmp_path / "ws"
    path.mkdir()
    return path.resolve()


@pytest.fixture
def state_dir(tmp_path: Path) -> str:
    return str(tmp_path / "state")


@pytest.fixture
async def sandbox(root: Path, state_dir: str) -> AsyncIterator[LocalSandbox]:
    box = LocalSandbox(str(root), state_dir=state_dir)
    yield box
    await box.close()




@pytest.fixture
def processes_with() -> Callable[[str], list[int]]:
    return _processes_with


@pytest.fixture
def wait_until() -> Callable[..., Awaitable[bool]]:
    return _wait_until
