"""The workspace image: git, Python, Node, ripgrep and common toolchains. No secrets are ever baked in.

Shared by the adapter (Lambdas create sandboxes from it) and sandbox_modal/app.py (builds and smoke-tests it).
"""

from __future__ import annotations

from typing import Any

APP_NAME = "dexa-sandbox"
WORKDIR = "/workspace"
STATE_DIR = "/var/lib/dexa/jobs"  # job journals (outside the workspace, so checkpoints and walks skip them)
PYTHON_VERSION = "3.12"
APT_PACKAGES = (
    "git",
    "ripgrep",
    "curl",
    "ca-certificates",
    "jq",
    "unzip",
    "zip",
    "build-essential",
    "pkg-config",
    "nodejs",
    "npm",
    "procps",
    "less",
    "tree",
    "file",
)
PIP_PACKAGES = ("uv", "pytest", "ruff")


def sandbox_image(modal: Any) -> Any:
    """The modal.Image for session sandboxes (image builds are lazy: nothing happens until a sandbox starts)."""
    return (
        modal.Image.debian_slim(python_version=PYTHON_VERSION)
        .apt_install(*APT_PACKAGES)
        .pip_install(*PIP_PACKAGES)
        .run_commands(f"mkdir -p {WORKDIR} {STATE_DIR}", "git config --system init.defaultBranch main")
        .env({"LANG": "C.UTF-8", "PYTHONUNBUFFERED": "1", "GIT_TERMINAL_PROMPT": "0"})
        .workdir(WORKDIR)
    )
