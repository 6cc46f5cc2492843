"""The cloud Workspace: one Modal Sandbox per session on a durable Volume (modal 1.6).

`modal` is imported only when first used.
"""

from __future__ import annotations

from .durable import KvWorkspaceRecord, MemoryWorkspaceRecord, WorkspaceRecord, require_token, volume_name
from .image import APP_NAME, WORKDIR, sandbox_image
from .workspace import ModalSandbox

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
