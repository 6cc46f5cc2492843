"""The cloud Workspace: one Modal Sandbox per session on a durable Volume (modal 1.6).

`modal` is imported only when first used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dexa.core.lazy import lazy_exports

if TYPE_CHECKING:
    from .durable import KvWorkspaceRecord, MemoryWorkspaceRecord, WorkspaceRecord, require_token, volume_name
    from .image import sandbox_image
    from .layout import APP_NAME, WORKDIR
    from .workspace import ModalSandbox

# Loaded on first use: importing a submodule (dexa.adapters.modal.layout for WORKDIR) runs this package first, and
# the workspace adapter, the durable records and the image's toolchain list are ~10 ms a cold API does not need.
_WHERE = {
    "APP_NAME": ".layout",
    "WORKDIR": ".layout",
    "KvWorkspaceRecord": ".durable",
    "MemoryWorkspaceRecord": ".durable",
    "WorkspaceRecord": ".durable",
    "require_token": ".durable",
    "volume_name": ".durable",
    "sandbox_image": ".image",
    "ModalSandbox": ".workspace",
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


__getattr__ = lazy_exports(__name__, _WHERE)
