"""Claude Code's command-line contract for `dexa`: top-level `-p` and flag checks (inline JSON for file flags:
dexa.headless.json_flags).

`claude -p "…"`, `claude "…"` and the Agent SDKs' bare `claude --output-format stream-json …` all run a prompt
without naming a command; `top_level_argv` puts `run` in front of such an argv. Each check fails with the message
Claude Code prints, so a script that greps for it keeps working.
"""

from __future__ import annotations

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


def read_text_flag(path: Path, flag: str) -> str:
    try:
        return path.read_text()
    except OSError as exc:
        raise ConfigError(f"{flag} {path}: {exc.strerror or exc}") from None
