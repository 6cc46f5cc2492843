"""Deployment settings (DEXA_* environment). Read once by entry points; core never reads the environment.

A pydantic model that reads its own DEXA_* variables, rather than pydantic-settings' BaseSettings: that package
(with python-dotenv, ~25 modules) was on every `dexa run -p` for a dozen scalar fields. The same precedence:
arguments, then the environment (names case-insensitive), then defaults; values are coerced as pydantic does.

Importing this module also settles pydantic's plugins for the process (see `_no_pydantic_plugin_scan`).
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.plugin import _loader as _pydantic_plugins

ENV_PREFIX = "DEXA_"
PLUGINS_ENV = "PYDANTIC_DISABLE_PLUGINS"


def _no_pydantic_plugin_scan() -> None:
    """No third-party pydantic plugins in a Dexa process, unless the user asked pydantic about them.

    pydantic looks for plugins at the first model build of a process by reading the entry points of every
    installed distribution (importlib.metadata): ~11-20 ms of CPU per cold `dexa run -p` and per cold step Lambda
    (measured, load ~5, 181 distributions), for plugins (logfire's, say) that would instrument pydantic models:
    in a Dexa process those are Dexa's internals (these settings, the model SDK's types), not the user's.
    The documented switch (PYDANTIC_DISABLE_PLUGINS=__all__) would be inherited by every process Dexa starts
    (hooks, MCP servers, an unsandboxed Bash), disabling plugins in the user's own programs; so the loader's cache
    is filled with "no plugins" for this process only. Setting PYDANTIC_DISABLE_PLUGINS at all (even empty:
    `PYDANTIC_DISABLE_PLUGINS= dexa ...` turns the plugins back on) hands the choice back to pydantic.
    """
    if PLUGINS_ENV in os.environ:
        return
    # A private cache: the unit test of this function fails if a pydantic upgrade renames it.
    if getattr(_pydantic_plugins, "_plugins", ...) is None:
        _pydantic_plugins._plugins = {}


_no_pydantic_plugin_scan()  # before DexaSettings: its build is the first model build of a CLI or Lambda process


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
