"""`--settings` and `--mcp-config` as Claude Code takes them: a path or inline JSON, checked with Claude Code's texts.

Shared by `dexa run` (dexa.cli.flags checks the rest of its flags) and `dexa acp`, whose editor sends its MCP
servers as JSON.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

from dexa.core.errors import ConfigError


def inline_json_files(values: Sequence[str], *, kind: str) -> tuple[str, ...]:
    """`--settings` / `--mcp-config` take a path or inline JSON (what the Agent SDKs pass). Inline JSON is checked
    and written to a content-addressed file under Dexa's home, so the loaders see a path either way."""
    out: list[str] = []
    for value in values:
        if kind == "mcp":
            _check_mcp_arg(value)
        if not value.lstrip().startswith("{"):
            path = Path(value).resolve()
            if kind == "mcp":
                _check_mcp(path.read_text() if path.is_file() else None, source=str(path))
            out.append(str(path))
            continue
        try:
            data = json.loads(value)
        except json.JSONDecodeError as exc:
            what = "MCP configuration" if kind == "mcp" else "settings"
            raise ConfigError(f"Invalid {what}: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
        if kind == "mcp":
            data = _strip_sdk_servers(data)
            _check_mcp(json.dumps(data), source="--mcp-config")
        out.append(str(_spill(json.dumps(data), kind)))
    return tuple(out)


def _strip_sdk_servers(data: object) -> object:
    """SDK-hosted servers (`"type": "sdk"`) run inside the calling program: there is nothing to start, so they are
    left out of the file the MCP loader reads; the stream-json session reaches them over `mcp_message` (sdk_mcp)."""
    if not isinstance(data, dict) or not isinstance(data.get("mcpServers"), dict):
        return data
    servers = {n: c for n, c in data["mcpServers"].items() if not (isinstance(c, dict) and c.get("type") == "sdk")}
    return {**data, "mcpServers": servers}


def _check_mcp_arg(value: str) -> None:
    """Claude Code's checks and texts for a missing file, invalid JSON or a config without mcpServers."""
    from dexa.adapters.mcp.config import INVALID_CONFIG, check_mcp_config_arg

    try:
        check_mcp_config_arg(value)
    except ValueError as exc:
        raise ConfigError(f"{INVALID_CONFIG}\n{exc}") from None


def _check_mcp(text: str | None, *, source: str) -> None:
    if text is None:
        raise ConfigError(f"Invalid MCP configuration: MCP config file not found: {source}")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"Invalid MCP configuration in {source}: {exc.msg} at line {exc.lineno}") from None
    if not isinstance(data, dict) or not isinstance(data.get("mcpServers", {}), dict):
        raise ConfigError(f"Invalid MCP configuration in {source}: mcpServers must be an object")


def _spill(text: str, kind: str) -> Path:
    from dexa.settings import get_settings

    folder = get_settings().home / "inline"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{kind}-{hashlib.sha256(text.encode()).hexdigest()[:16]}.json"
    if not path.exists():
        path.write_text(text)
        path.chmod(0o600)
    return path
