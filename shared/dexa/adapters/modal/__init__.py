"""The cloud Workspace: one Modal Sandbox per session on a durable Volume (modal 1.6).

`modal` is imported only when first used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .durable import KvWorkspaceRecord, MemoryWorkspaceRecord, WorkspaceRecord, require_token, volume_name
    from .image import sandbox_image
    from .layout import APP_NAME, WORKDIR
    from .workspace import ModalSandbox

# Loaded on first use: importing a submodule (dexa.adapters.modal.layout for WORKDIR) runs this package first, and
# the workspace adapter, the durable records and the image's toolchain list are ~10 ms a cold API does not need.
_WHERE = {
    "APP_NAME": "layout",
    "WORKDIR": "layout",
    "KvWorkspaceRecord": "durable",
    "MemoryWorkspaceRecord": "durable",
    "WorkspaceRecord": "durable",
    "require_token": "durable",
    "volume_name": "durable",
    "sandbox_image": "image",
    "ModalSandbox": "workspace",
}

__all__ = [
    "APP_NAME",
    "WORKDIR",
    "KvWorkspaceRecord",
    "MemoryWorkspaceRecord",
    "ModalSandbox",
    "WorkspaceRecord",
    "require_token",
    "sandbox_image",
    "volume_name",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'dexa.adapters.modal' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
