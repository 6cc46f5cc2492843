"""Claude Code's command-line contract for `dexa`: top-level `-p`, flag checks, inline JSON for file flags.

`claude -p "…"`, `claude "…"` and the Agent SDKs' bare `claude --output-format stream-json …` all run a prompt
without naming a command; `top_level_argv` puts `run` in front of such an argv. Each check fails with the message
Claude Code prints, so a script that greps for it keeps working.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

from dexa.core.errors import ConfigError

OUTPUT_FORMATS = ("text", "json", "stream-json")
INPUT_FORMATS = ("text", "stream-json")
SETTING_SOURCES = ("user", "project", "local")
_APP_FLAGS = frozenset({"--help", "--install-completion", "--show-completion"})


def top_level_argv(argv: list[str], commands: Collection[str]) -> list[str]:
    """`dexa -p …`, `dexa "prompt"` and `dexa --output-format …` mean `dexa run …`."""
    if not argv or argv[0] in _APP_FLAGS or argv[0] in commands:
        return argv
    return ["run", *argv]


def check_run_flags(
    *,
    output_format: str,
    input_format: str,
    session_id: str | None,
    permission_prompt_tool: str | None,
    agents: str | None,
    plugin_dirs: Sequence[str] | None,
    setting_sources: str | None,
) -> None:
    if output_format not in OUTPUT_FORMATS:
        raise ConfigError(f'Invalid output format "{output_format}". Use one of: {", ".join(OUTPUT_FORMATS)}')
    if input_format not in INPUT_FORMATS:
        raise ConfigError(f'Invalid input format "{input_format}". Use one of: {", ".join(INPUT_FORMATS)}')
    if input_format == "stream-json" and output_format != "stream-json":
        raise ConfigError("--input-format=stream-json requires output-format=stream-json.")
    if session_id is not None:
        try:
            uuid.UUID(session_id)
        except ValueError:
            raise ConfigError("Invalid session ID. Must be a valid UUID.") from None
    if permission_prompt_tool not in (None, "stdio"):
        # An MCP tool as the approver needs the MCP permission bridge, which Dexa does not have yet.
        raise ConfigError(
            f"--permission-prompt-tool {permission_prompt_tool}: only 'stdio' (the Agent SDK's can_use_tool) is "
            "supported; use --allowedTools or settings rules instead"
        )
    if agents is not None:
        try:
            parsed = json.loads(agents)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"--agents: invalid JSON ({exc.msg} at column {exc.colno})") from None
        if not isinstance(parsed, dict):
            raise ConfigError("--agents: expected a JSON object of agent name -> definition")
        _check_agents(parsed)  # pyright: ignore[reportUnknownArgumentType]
    for d in plugin_dirs or []:
        if not Path(d).is_dir():
            raise ConfigError(f"--plugin-dir {d}: not a directory")
    if setting_sources is not None:
        bad = [s for s in setting_sources.split(",") if s.strip() and s.strip() not in SETTING_SOURCES]
        if bad:
            raise ConfigError(f"Invalid setting source: {bad[0]}. Valid options are: {', '.join(SETTING_SOURCES)}")


def _check_agents(parsed: dict[str, Any]) -> None:
    """A definition the session would skip (no description or prompt) fails here, naming the agent."""
    from dexa.agents.definitions import agents_from_json

    for name, spec in parsed.items():
        _, problems = agents_from_json({name: spec})
        if problems:
            p = problems[0]
            raise ConfigError(f"--agents: agent {name!r}: {p.key + ' ' if p.key else ''}{p.message}")


def setting_sources_extra(value: str | None) -> dict[str, Any]:
    """`--setting-sources user,project`: which settings files a session reads (SessionConfig.extra; "" = none)."""
    if value is None:
        return {}
    return {"setting_sources": [s.strip() for s in value.split(",") if s.strip()]}


def session_extra(
    *,
    setting_sources: str | None,
    agents: str | None,
    plugin_dirs: Sequence[str] | None,
    mcp_config: Sequence[str] | None = None,
) -> dict[str, Any]:
    """SessionConfig.extra from run flags: kept with the session, so a resumed session has the same subagents and
    plugins (`--agents` JSON as given, `--plugin-dir` as absolute paths)."""
    out = setting_sources_extra(setting_sources)
    if agents is not None:
        out["cli_agents"] = json.loads(agents)
    if plugin_dirs:
        out["plugin_dirs"] = [str(Path(d).resolve()) for d in plugin_dirs]
    if mcp_config:  # sdk_mcp imports the MCP SDK (~1,000 modules): not for a run without --mcp-config
        from dexa.cli.sdk_mcp import sdk_server_names

        sdk_servers = sdk_server_names(mcp_config)
        if sdk_servers:
            out["sdk_mcp_servers"] = sdk_servers
    return out


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


def read_text_flag(path: Path, flag: str) -> str:
    try:
        return path.read_text()
    except OSError as exc:
        raise ConfigError(f"{flag} {path}: {exc.strerror or exc}") from None
