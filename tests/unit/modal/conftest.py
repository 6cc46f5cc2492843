"""ModalSandbox against a fake of the modal surface (always) and against real Modal (`-m modal`, with a token)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fake_modal import FakeModal

from dexa.adapters.modal import ModalSandbox


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "modal: runs against real Modal; needs MODAL_TOKEN_ID (select with -m modal)")


@pytest.fixture
def fake() -> FakeModal:
    return FakeModal()


@pytest.fixture
def make_fake(fake: FakeModal, tmp_path: Path) -> Iterator[object]:
    root = tmp_path / "workspace"
    root.mkdir()
    made: list[ModalSandbox] = []

    def make(session_id: str = "ses_1", **kwargs: object) -> ModalSandbox:
        ws = ModalSandbox(session_id, root=str(root), mount=str(root), modal_module=fake, **kwargs)  # type: ignore[arg-type]
        made.append(ws)
        return ws

    yield make


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    # Built here, not at import: the marker exists only once this conftest's pytest_configure has run.
    if "workspace" in metafunc.fixturenames:
        metafunc.parametrize("workspace", ["fake", pytest.param("real", marks=pytest.mark.modal)], indirect=True)


@pytest.fixture
def workspace(request: pytest.FixtureRequest) -> Iterator[ModalSandbox]:
    """The same behaviour tests run on the fake and, when a token is present, on a real Modal sandbox."""
    if request.param == "fake":
        yield request.getfixturevalue("make_fake")()  # type: ignore[operator]
        return
    if not os.environ.get("MODAL_TOKEN_ID"):
        pytest.skip("real Modal: set MODAL_TOKEN_ID and MODAL_TOKEN_SECRET (and run with -m modal)")
    import asyncio

    ws = ModalSandbox(
        f"test-{uuid.uuid4().hex[:12]}", app_name="dexa-sandbox-tests", idle_timeout_s=120, lifetime_s=600
    )
    yield ws
    asyncio.run(ws.destroy())  # the sandbox and its volume
