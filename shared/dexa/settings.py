"""Deployment settings (DEXA_* environment). Read once by entry points; core never reads the environment.

A pydantic model that reads its own DEXA_* variables, rather than pydantic-settings' BaseSettings: that package
(with python-dotenv, ~25 modules) was on every `dexa run -p` for a dozen scalar fields. The same precedence:
arguments, then the environment (names case-insensitive), then defaults; values are coerced as pydantic does.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

ENV_PREFIX = "DEXA_"


def default_home() -> Path:
    """~/.dexa, except on AWS Lambda: there everything but /tmp is read-only (HOME included)."""
    if os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
        return Path("/tmp/dexa")  # Lambda's only writable directory
    return Path.home() / ".dexa"


class DexaSettings(BaseModel):
    model_config = ConfigDict(extra="ignore")

    @model_validator(mode="before")
    @classmethod
    def _environment(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        fields = cls.model_fields
        found = {
            name.lower()[len(ENV_PREFIX) :]: value
            for name, value in os.environ.items()
            if name.upper().startswith(ENV_PREFIX) and name.lower()[len(ENV_PREFIX) :] in fields
        }
        return {**found, **data}

    home: Path = Field(default_factory=default_home)
    store: str = "sqlite"  # sqlite | dynamo
    sandbox: str = "bwrap"  # bwrap | modal
    # Run Bash without bubblewrap. Only ever an explicit opt-in; the CLI warns loudly.
    unsandboxed: bool = False
    hosted: bool = False
    default_model: str = "sonnet"
    loop_threshold: int = 5
    managed_settings_path: Path = Path("/etc/claude-code/managed-settings.json")
    log_payloads: bool = False
    # Where every org's session working directories live ($DEXA_HOME/workspaces/<org_id> by default).
    workspace_root: Path | None = None
    # Accept `scripted:` model paths over the API (they name a file on the server): test harnesses only.
    test_mode: bool = False
    # Request bodies above this are refused (413) before authentication and before they are read whole.
    max_body_bytes: int = 10 * 1024 * 1024

    @property
    def db_path(self) -> Path:
        return self.home / "dexa.db"

    @property
    def blob_dir(self) -> Path:
        return self.home / "blobs"

    @property
    def state_dir(self) -> Path:
        return self.home / "state"

    @property
    def workspaces_dir(self) -> Path:
        return self.workspace_root or self.home / "workspaces"

    @property
    def orgs_dir(self) -> Path:
        """Per-org configuration scopes: `<orgs_dir>/<org_id>` stands in for that org's home (its `.claude/`)."""
        return self.home / "orgs"


@lru_cache(maxsize=1)
def get_settings() -> DexaSettings:
    return DexaSettings()
