"""`dexa permissions check`: why would this tool call be allowed, asked or denied?

Mounted by the main CLI as `dexa permissions`. Takes the same permission flags as `dexa run`.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Annotated, Any

import typer

from dexa.config.loader import DEFAULT_MANAGED_PATH, load_settings
from dexa.core.errors import ConfigError
from dexa.permissions.engine import PermissionEngine
from dexa.permissions.modes import check_mode

app = typer.Typer(help="Inspect permission decisions.", no_args_is_help=True)


@app.callback()
def _group() -> None:
    """Permission tools (keeps `check` a subcommand even while it is the only one)."""


@app.command()
def check(
    tool: Annotated[str, typer.Option("--tool", help="Tool name, e.g. Bash, Edit, mcp__github__create_issue.")],
    tool_input: Annotated[str, typer.Option("--input", help='Tool input as JSON, e.g. \'{"command": "ls"}\'.')] = "{}",
    cwd: Annotated[str | None, typer.Option("--cwd", help="Project directory (default: current).")] = None,
    mode: Annotated[str | None, typer.Option("--mode", "--permission-mode", help="Permission mode.")] = None,
    allowed_tools: Annotated[
        list[str] | None, typer.Option("--allowedTools", "--allowed-tools", help="Extra allow rules.")
    ] = None,
    disallowed_tools: Annotated[
        list[str] | None, typer.Option("--disallowedTools", "--disallowed-tools", help="Extra deny rules.")
    ] = None,
    add_dir: Annotated[list[str] | None, typer.Option("--add-dir", help="Extra working directory.")] = None,
    settings: Annotated[
        list[str] | None, typer.Option("--settings", help="Settings file or inline JSON (one session).")
    ] = None,
    managed_settings: Annotated[
        str, typer.Option("--managed-settings", hidden=True, help="Managed settings path (tests).")
    ] = DEFAULT_MANAGED_PATH,
    home: Annotated[str | None, typer.Option("--home", hidden=True, help="Home directory (tests).")] = None,
) -> None:
    """Print {"decision", "rule", "source", "reason"} for one tool call."""
    try:
        parsed_input: Any = json.loads(tool_input)
    except json.JSONDecodeError as exc:
        raise typer.BadParameter(f"not valid JSON: {exc.msg} at column {exc.colno}", param_hint="--input") from exc
    if not isinstance(parsed_input, dict):
        raise typer.BadParameter("must be a JSON object", param_hint="--input")
    project = os.path.abspath(cwd or os.getcwd())
    cli: dict[str, Any] = {
        "allowedTools": allowed_tools or [],
        "disallowedTools": disallowed_tools or [],
        "addDir": add_dir or [],
        "settings": settings or [],
    }
    if mode:
        cli["permissionMode"] = mode
    effective, problems = load_settings(project, home=home, cli=cli, managed_path=managed_settings or None)
    for problem in problems:
        typer.echo(f"warning: {problem}", err=True)
    try:
        chosen = check_mode(mode or effective.default_mode or "default", effective)
    except ConfigError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(2) from exc
    engine = PermissionEngine(effective, additional_dirs=tuple(add_dir or ()))
    decision = engine.decide(tool, parsed_input, mode=chosen, cwd=project)
    out = {"decision": decision.behavior, "rule": decision.rule, "source": decision.source, "reason": decision.reason}
    sys.stdout.write(json.dumps(out) + "\n")
