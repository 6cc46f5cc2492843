"""The cloud Workspace: one Modal Sandbox per session (modal 1.6). `modal` is imported only when first used."""

from __future__ import annotations

from .image import APP_NAME, WORKDIR, sandbox_image
from .workspace import ModalSandbox

__all__ = ["APP_NAME", "WORKDIR", "ModalSandbox", "sandbox_image"]
