"""Shared pieces of the stand-in tests (a uniquely named module: every test folder has its own conftest)."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dexa.adapters.modal import ModalSandbox

MakeWorkspace = Callable[..., ModalSandbox]


def load_helper() -> Any:
    """tests/cloud_e2e/modal_standin as a module (tests/ is not a package; the harness imports it the same way)."""
    path = Path(__file__).resolve().parents[2] / "cloud_e2e" / "modal_standin" / "__init__.py"
    spec = importlib.util.spec_from_file_location("dexa_modal_standin", path)
    assert spec is not None and spec.loader is not None
    if spec.name not in sys.modules:
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
    return sys.modules[spec.name]


def p(ws: ModalSandbox, *parts: str) -> str:
    return "/".join([ws.root, *parts])
