"""Reading the toolchain list. The file is data (JSON), not Python, so a shell recipe and the stdlib-only
check-tools script read the very same list the Modal image is built from."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dexa.core.errors import ConfigError

BIN_DIR = Path(__file__).resolve().parent / "bin"
MANIFEST_PATH = BIN_DIR / "toolchain.json"
# Where check-tools and its list appear inside every sandbox (bound read-only locally, copied into the Modal image).
SANDBOX_BIN = "/opt/dexa/bin"


@dataclass(frozen=True, slots=True, kw_only=True)
class Toolchain:
    apt: tuple[str, ...]
    pip: tuple[str, ...]
    versions: dict[str, str]
    steps: tuple[tuple[str, str], ...]  # (name, shell command), run in order as root
    env: dict[str, str]
    tools: tuple[dict[str, Any], ...]

    @property
    def tool_names(self) -> tuple[str, ...]:
        return tuple(str(t["name"]) for t in self.tools)


@functools.cache
def load_toolchain(path: Path = MANIFEST_PATH) -> Toolchain:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        return Toolchain(
            apt=tuple(doc["apt"]),
            pip=tuple(doc.get("pip", ())),
            versions={str(k): str(v) for k, v in doc.get("versions", {}).items()},
            steps=tuple((str(s["name"]), str(s["run"])) for s in doc.get("steps", ())),
            env={str(k): str(v) for k, v in doc.get("env", {}).items()},
            tools=tuple(dict(t) for t in doc["tools"]),
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"the workspace toolchain list {path} is unreadable: {exc}") from exc
