"""The workspace image: the universal toolchains (Node LTS with npm, yarn, pnpm and bun; Python with uv; Go; Java;
Rust; Postgres and Redis servers), git and ripgrep, and `check-tools` on PATH. No secrets are ever baked in.

What is installed comes from one list, dexa/toolchain/bin/toolchain.json, which tools/workspace-image/recipe.sh also
installs on a local machine and check-tools reports on. Shared by the adapter (Lambdas create sandboxes from it) and
sandbox_modal/app.py (builds and smoke-tests it).
"""

from __future__ import annotations

from typing import Any

from dexa.toolchain import BIN_DIR, SANDBOX_BIN, load_toolchain

# Re-exported: the image's callers name them here.
from .layout import APP_NAME as APP_NAME
from .layout import STATE_DIR as STATE_DIR
from .layout import WORKDIR as WORKDIR

PYTHON_VERSION = "3.12"
_TOOLCHAIN = load_toolchain()
APT_PACKAGES = _TOOLCHAIN.apt
PIP_PACKAGES = _TOOLCHAIN.pip
IMAGE_PATH = f"{SANDBOX_BIN}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def sandbox_image(modal: Any) -> Any:
    """The modal.Image for session sandboxes (image builds are lazy: nothing happens until a sandbox starts).

    The last build step runs `check-tools --strict`, so an image missing a listed tool fails to build."""
    tc = _TOOLCHAIN
    return (
        modal.Image.debian_slim(python_version=PYTHON_VERSION)
        .apt_install(*tc.apt)
        .pip_install(*tc.pip)
        .env(tc.versions)
        .run_commands(*(run for _, run in tc.steps))
        .add_local_dir(str(BIN_DIR), SANDBOX_BIN, copy=True)
        .env({"LANG": "C.UTF-8", "PYTHONUNBUFFERED": "1", "GIT_TERMINAL_PROMPT": "0", "PATH": IMAGE_PATH, **tc.env})
        .run_commands(
            f"mkdir -p {WORKDIR} {STATE_DIR}",
            "git config --system init.defaultBranch main",
            f"chmod 0755 {SANDBOX_BIN}/check-tools && check-tools --strict",
        )
        .workdir(WORKDIR)
    )
