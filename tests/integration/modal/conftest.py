"""ModalSandbox against the Modal stand-in (EMULATION: bubblewrap sandboxes behind a fake `modal` package),
one stand-in server per module, the way the emulated Lambdas share one."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from standin_rig import MakeWorkspace, load_helper

from dexa.adapters.modal import MemoryWorkspaceRecord, ModalSandbox

standin_helper = load_helper()
ModalStandin = standin_helper.ModalStandin
load_fake_modal = standin_helper.load_fake_modal


@pytest.fixture(scope="module")
def standin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    if shutil.which("bwrap") is None:
        pytest.skip("the Modal stand-in runs sandboxes with bubblewrap (apt install bubblewrap)")
    server = ModalStandin.start(tmp_path_factory.mktemp("modal-standin"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def fake_modal() -> Any:
    return load_fake_modal()


@pytest.fixture
def make_workspace(standin: Any, fake_modal: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[MakeWorkspace]:
    for key, value in standin.lambda_env().items():
        if key != "PYTHONPATH":
            monkeypatch.setenv(key, value)
    made: list[ModalSandbox] = []
    session = f"ses_{uuid.uuid4().hex[:12]}"

    def make(session_id: str = session, **kwargs: Any) -> ModalSandbox:
        kwargs.setdefault("record", MemoryWorkspaceRecord())
        ws = ModalSandbox(session_id, app_name="dexa-standin-tests", modal_module=fake_modal, **kwargs)
        made.append(ws)
        return ws

    yield make
    import asyncio

    for ws in made:
        asyncio.run(ws.destroy())


@pytest.fixture
def events() -> list[tuple[str, dict[str, Any]]]:
    return []


@pytest.fixture
def on_event(events: list[tuple[str, dict[str, Any]]]) -> Callable[..., Any]:
    async def sink(type_: str, data: Any) -> None:
        events.append((type_, dict(data)))

    return sink
