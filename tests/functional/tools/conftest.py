"""Fixtures for the code-tool functional tests: a real bwrap LocalSandbox and a tool context over it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from dexa.adapters.local_sandbox import LocalSandbox
from dexa.core.tools import SessionState, ToolContext


class MemoryKV:
    def __init__(self) -> None:
        self.docs: dict[tuple[str, str, str], dict[str, Any]] = {}

    async def kv_put(self, namespace: str, key: str, value: Mapping[str, Any], *, org_id: str = "") -> None:
        self.docs[(org_id, namespace, key)] = dict(value)

    async def kv_get(self, namespace: str, key: str, *, org_id: str = "") -> dict[str, Any] | None:
        return self.docs.get((org_id, namespace, key))

    async def kv_list(self, namespace: str, *, prefix: str = "", org_id: str = "") -> list[dict[str, Any]]:
        return [v for (o, n, k), v in self.docs.items() if o == org_id and n == namespace and k.startswith(prefix)]

    async def kv_delete(self, namespace: str, key: str, *, org_id: str = "") -> None:
        self.docs.pop((org_id, namespace, key), None)

    async def kv_put_if_absent(self, namespace: str, key: str, value: Mapping[str, Any], *, org_id: str = "") -> bool:
        if (org_id, namespace, key) in self.docs:
            return False
        self.docs[(org_id, namespace, key)] = dict(value)
        return True


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
    async def emit(kind: str, data: Mapping[str, Any]) -> None:
        events.append((kind, dict(data)))

    return ToolContext(
        session_id="s1",
        org_id="o1",
        tool_use_id="toolu_1",
        workspace=workspace,
        state=SessionState(cwd=str(root)),
        emit=emit,
        kv=MemoryKV(),
    )
