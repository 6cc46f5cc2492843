"""ModalSandbox against the Modal stand-in (EMULATION: bubblewrap sandboxes behind a fake `modal` package),
one stand-in server per module, the way the emulated Lambdas share one."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from dexa.adapters.modal import MemoryWorkspaceRecord, ModalSandbox


def _helper() -> Any:
    """tests/cloud_e2e/modal_standin as a module (tests/ is not a package; the harness imports it the same way)."""
    import importlib.util
    import sys

    path = Path(__file__).resolve().parents[2] / "cloud_e2e" / "modal_standin" / "__init__.py"
    spec = importlib.util.spec_from_file_location("dexa_modal_standin", path)
    assert spec is not None and spec.loader is not None
    module = sys.modules.get(spec.name) or importlib.util.module_from_spec(spec)
    if spec.name not in sys.modules:
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
    return module


standin_helper = _helper()
ModalStandin = standin_helper.ModalStandin
load_fake_modal = standin_helper.load_fake_modal

MakeWorkspace = Callable[..., ModalSandbox]


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
        asyncio.run(ws.terminate())


def p(ws: ModalSandbox, *parts: str) -> str:
    return "/".join([ws.root, *parts])


@pytest.fixture
def events() -> list[tuple[str, dict[str, Any]]]:
    return []


@pytest.fixture
def on_event(events: list[tuple[str, dict[str, Any]]]) -> Callable[..., Any]:
    async def sink(type_: str, data: Any) -> None:
        events.append((type_, dict(data)))

    return sink
