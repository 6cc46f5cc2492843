"""Where `claude mcp add` keeps servers, read and written the way Claude Code does, so both CLIs share them.

- local (default): `~/.claude.json` -> `projects["<project dir>"].mcpServers` (private to you, this project)
- project: `<project dir>/.mcp.json` -> `mcpServers` (shared through the repository)
- user: `~/.claude.json` -> top-level `mcpServers` (every project)

`~/.claude.json` holds much more than servers (trust, history, settings): every write keeps the other keys and
replaces the file atomically, mode 0600.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from dexa.core.errors import ConfigError

McpScope = Literal["local", "project", "user"]
SCOPES: tuple[McpScope, ...] = ("local", "project", "user")
# Claude Code's own wording, shown by `list`/`get` and in its messages.
SCOPE_LABELS: dict[str, str] = {
    "local": "Local config (private to you in this project)",
    "project": "Project config (shared via .mcp.json)",
    "user": "User config (available in all your projects)",
}
TRANSPORTS = ("stdio", "sse", "http")


def global_config_path(home: Path, env: Mapping[str, str] | None = None) -> Path:
    """`~/.claude.json`, or `$CLAUDE_CONFIG_DIR/.claude.json` as Claude Code honours."""
    base = (os.environ if env is None else env).get("CLAUDE_CONFIG_DIR")
    return Path(base) / ".claude.json" if base else home / ".claude.json"


@dataclass(frozen=True, slots=True, kw_only=True)
class ScopeFiles:
    """The files of the three scopes for one project directory."""

    project_dir: Path
    home: Path
    env: Mapping[str, str] | None = None

    @property
    def claude_json(self) -> Path:
        return global_config_path(self.home, self.env)

    @property
    def mcp_json(self) -> Path:
        return self.project_dir / ".mcp.json"

    def where(self, scope: McpScope) -> str:
        """The file a scope lives in, as Claude Code prints it after a change."""
        if scope == "project":
            return str(self.mcp_json)
        if scope == "local":
            return f"{self.claude_json} [project: {self.project_dir}]"
        return str(self.claude_json)

    def servers(self, scope: McpScope) -> dict[str, Any]:
        if scope == "project":
            data = _read(self.mcp_json)
            found = data.get("mcpServers")
        elif scope == "user":
            found = _read(self.claude_json).get("mcpServers")
        else:
            projects = _read(self.claude_json).get("projects")
            entry = projects.get(str(self.project_dir)) if isinstance(projects, dict) else None
            found = entry.get("mcpServers") if isinstance(entry, dict) else None
        return dict(found) if isinstance(found, dict) else {}

    def put(self, scope: McpScope, name: str, entry: Mapping[str, Any]) -> None:
        self._change(scope, lambda servers: servers.__setitem__(name, dict(entry)))

    def remove(self, scope: McpScope, name: str) -> None:
        self._change(scope, lambda servers: servers.pop(name, None))

    def _change(self, scope: McpScope, change: Any) -> None:
        path = self.mcp_json if scope == "project" else self.claude_json
        data = _read(path)
        if scope == "local":
            projects = data.setdefault("projects", {})
            if not isinstance(projects, dict):
                raise ConfigError(f"{path}: 'projects' is not an object; fix or remove it first")
            holder = projects.setdefault(str(self.project_dir), {})
        else:
            holder = data
        if not isinstance(holder, dict):
            raise ConfigError(f"{path}: the entry for {self.project_dir} is not an object")
        servers = holder.setdefault("mcpServers", {})
        if not isinstance(servers, dict):
            raise ConfigError(f"{path}: 'mcpServers' is not an object; fix or remove it first")
        change(servers)
        _write(path, data, private=scope != "project")


def _read(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        # Never overwrite a file we could not parse: it may hold the user's whole Claude Code state.
        raise ConfigError(f"{path} is not valid JSON (line {exc.lineno}: {exc.msg}); fix it first") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a JSON object")
    return data  # pyright: ignore[reportUnknownVariableType]


def _write(path: Path, data: Mapping[str, Any], *, private: bool) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2)
        os.chmod(tmp, 0o600 if private else 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def validate_entry(entry: Any) -> dict[str, Any]:
    """Check one server entry as `claude mcp add-json` does; returns it as a plain dict.

    Raises:
        ConfigError: Claude Code's "Invalid configuration: <field>: <problem>".
    """
    if not isinstance(entry, dict):
        raise ConfigError("Invalid configuration: expected an object")
    kind = entry.get("type", "stdio")  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]
    if kind == "streamable-http":
        kind = "http"
    if kind not in (*TRANSPORTS, "ws"):
        raise ConfigError(f"Invalid configuration: type: unknown transport {kind!r}")
    if kind == "stdio":
        if not isinstance(entry.get("command"), str):  # pyright: ignore[reportUnknownMemberType]
            got = "undefined" if "command" not in entry else type(entry["command"]).__name__
            raise ConfigError(f"Invalid configuration: command: expected string, received {got}")
        args = entry.get("args", [])  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]
        if not isinstance(args, list) or not all(isinstance(a, str) for a in args):  # pyright: ignore[reportUnknownVariableType]
            raise ConfigError("Invalid configuration: args: expected an array of strings")
    elif not isinstance(entry.get("url"), str):  # pyright: ignore[reportUnknownMemberType]
        raise ConfigError("Invalid configuration: url: expected string, received undefined")
    for key in ("env", "headers"):
        value = entry.get(key, {})  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):  # pyright: ignore[reportUnknownVariableType, reportUnknownMemberType]
            raise ConfigError(f"Invalid configuration: {key}: expected an object of strings")
    return dict(entry)  # pyright: ignore[reportUnknownArgumentType]
