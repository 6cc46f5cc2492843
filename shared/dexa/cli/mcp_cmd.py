"""`dexa mcp add|add-json|list|get|remove`: Claude Code's `claude mcp` commands, on the same files.

Servers added here are used by `claude`, and servers added with `claude mcp add` are used by `dexa` (see
`dexa.adapters.mcp.scopes`). The messages are Claude Code's, with `dexa` in the hints.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from pathlib import Path
from typing import Annotated, Any, cast

import typer
from rich.console import Console

from dexa.adapters.mcp.scopes import SCOPE_LABELS, SCOPES, TRANSPORTS, McpScope, ScopeFiles, validate_entry
from dexa.core.errors import ConfigError

app = typer.Typer(help="Configure and inspect MCP servers (Claude Code's `claude mcp`).", no_args_is_help=True)
err = Console(stderr=True, soft_wrap=True, highlight=False)

ScopeOpt = Annotated[str | None, typer.Option("--scope", "-s", help="local (default) | project | user")]
LISTING_ORDER: tuple[McpScope, ...] = ("user", "project", "local")
PRECEDENCE: tuple[McpScope, ...] = ("local", "project", "user")
# Health checks start each server; a slow one must not hold the listing.
HEALTH_TIMEOUT_S = 15.0


def _files() -> ScopeFiles:
    return ScopeFiles(project_dir=Path.cwd().resolve(), home=Path(os.path.expanduser("~")))


def _fail(message: str) -> typer.Exit:
    err.print(message, markup=False)
    return typer.Exit(1)


def _scope(value: str | None) -> McpScope:
    scope = value or "local"
    if scope not in SCOPES:
        raise _fail(f"Invalid scope: {scope}. Must be one of: {', '.join(SCOPES)}")
    return scope  # pyright: ignore[reportReturnType]


def _pairs(values: list[str] | None, *, sep: str, what: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for value in values or []:
        key, found, rest = value.partition(sep)
        if not found or not key.strip():
            raise _fail(
                f"Invalid {what} format: {value}, "
                + (
                    "environment variables should be added as: -e KEY1=value1 -e KEY2=value2"
                    if sep == "="
                    else 'headers should be added as: -H "Name: value"'
                )
            )
        out[key.strip()] = rest.strip() if sep == ":" else rest
    return out


def _store(files: ScopeFiles, scope: McpScope, name: str, entry: dict[str, Any]) -> None:
    if name in files.servers(scope):
        raise _fail(f"MCP server {name} already exists in {scope} config")
    try:
        files.put(scope, name, entry)
    except ConfigError as exc:
        raise _fail(str(exc)) from None


@app.command(
    "add",
    help="Add a server: `dexa mcp add [-s scope] [-t stdio|http|sse] NAME URL` or `… NAME -- COMMAND [ARGS…]`.",
)
def add(
    name: Annotated[str, typer.Argument(help="Server name")],
    target: Annotated[str, typer.Argument(help="URL (http/sse) or command (stdio)")],
    args: Annotated[list[str] | None, typer.Argument(help="Arguments for the command (after --)")] = None,
    scope: ScopeOpt = None,
    transport: Annotated[str | None, typer.Option("--transport", "-t", help="stdio | http | sse")] = None,
    env: Annotated[list[str] | None, typer.Option("--env", "-e", help="KEY=value (repeatable)")] = None,
    header: Annotated[list[str] | None, typer.Option("--header", "-H", help='"Name: value" (repeatable)')] = None,
) -> None:
    where = _scope(scope)
    kind = {"streamable-http": "http"}.get(transport or "stdio", transport or "stdio")
    if kind not in TRANSPORTS:
        raise _fail(f"Invalid transport type: {transport}. Must be one of: stdio, sse, http (or streamable-http)")
    files = _files()
    if kind == "stdio":
        entry: dict[str, Any] = {
            "type": "stdio",
            "command": target,
            "args": list(args or []),
            "env": _pairs(env, sep="=", what="environment variable"),
        }
        _store(files, where, name, entry)
        typer.echo(f"Added stdio MCP server {name} with command: {target} {' '.join(args or [])} to {where} config")
    else:
        entry = {"type": kind, "url": target}
        headers = _pairs(header, sep=":", what="header")
        if headers:
            entry["headers"] = headers
        _store(files, where, name, entry)
        typer.echo(f"Added {kind.upper()} MCP server {name} with URL: {target} to {where} config")
        if headers:
            typer.echo("Headers: " + json.dumps(dict.fromkeys(headers, "[REDACTED]"), indent=2))
    typer.echo(f"File modified: {files.where(where)}")


@app.command("add-json", help="Add a server from its JSON entry, as in .mcp.json.")
def add_json(
    name: Annotated[str, typer.Argument(help="Server name")],
    entry: Annotated[str, typer.Argument(help='e.g. \'{"type":"stdio","command":"node","args":["srv.js"]}\'')],
    scope: ScopeOpt = None,
) -> None:
    where = _scope(scope)
    try:
        parsed = validate_entry(json.loads(entry))
    except json.JSONDecodeError as exc:
        raise _fail(f"Invalid JSON: {exc.msg} at column {exc.colno}") from None
    except ConfigError as exc:
        raise _fail(str(exc)) from None
    _store(_files(), where, name, parsed)
    typer.echo(f"Added {parsed.get('type', 'stdio')} MCP server {name} to {where} config")


def _all(files: ScopeFiles) -> list[tuple[McpScope, str, dict[str, Any]]]:
    """Every configured server, in Claude Code's listing order (user, project, local)."""
    out: list[tuple[McpScope, str, dict[str, Any]]] = []
    for scope in LISTING_ORDER:
        for name, entry in files.servers(scope).items():
            out.append((scope, name, entry if isinstance(entry, dict) else {}))  # pyright: ignore[reportUnknownArgumentType]
    return out


def _target(entry: dict[str, Any]) -> str:
    if entry.get("url"):
        kind = {"http": "HTTP", "sse": "SSE", "ws": "WebSocket"}.get(str(entry.get("type")), str(entry.get("type")))
        return f"{entry['url']} ({kind})"
    return " ".join([str(entry.get("command", "")), *map(str, entry.get("args") or [])])


def _project_trusted(files: ScopeFiles) -> bool:
    from dexa.config.trust import is_trusted

    return is_trusted(str(files.project_dir), str(files.home))


async def _health(files: ScopeFiles, servers: list[tuple[McpScope, str, dict[str, Any]]]) -> dict[str, str]:
    """Start each server once (sandboxed like a session's) and say whether it answered."""
    from dexa.adapters.mcp.config import parse_servers
    from dexa.adapters.mcp.manager import McpManager
    from dexa.adapters.mcp.names import McpLimits

    configs = []
    problems: dict[str, str] = {}
    for scope, name, entry in servers:
        parsed, bad = parse_servers({"mcpServers": {name: entry}}, source=scope, scope=scope, env=dict(os.environ))
        configs += parsed
        for problem in bad:
            problems[name] = problem.message
    # A server that writes junk to stdout makes the SDK log a traceback; the listing already says it failed.
    logging.getLogger("mcp").setLevel(logging.CRITICAL)
    manager = McpManager(configs, wrapper=_wrapper(files), limits=McpLimits(startup_timeout_s=HEALTH_TIMEOUT_S))
    try:
        described = await manager.describe_sources(connect=True, timeout_s=HEALTH_TIMEOUT_S)
    finally:
        await manager.aclose()
    out = {name: f"✘ Failed to connect — {message}" for name, message in problems.items()}
    for info in described:
        if info.get("error") or info["status"] != "connected":
            out[info["name"]] = f"✘ Failed to connect — {info.get('error') or info['status']}"
        else:
            out[info["name"]] = "✔ Connected"
    return out


def _wrapper(files: ScopeFiles) -> Any:
    from dexa.adapters.local_sandbox.bwrap import probe_bwrap
    from dexa.adapters.mcp.sandbox import bwrap_wrapper

    if probe_bwrap() is not None:
        return None  # no bubblewrap here: sessions would refuse to sandbox too; check the plain process
    import sys

    return bwrap_wrapper([str(files.project_dir)], read_only=sorted({sys.prefix, sys.base_prefix}))


@app.command("list", help="List configured servers and check that each one starts.")
def list_servers() -> None:
    files = _files()
    servers = _all(files)
    if not servers:
        typer.echo("No MCP servers configured. Use `dexa mcp add` to add a server.")
        return
    trusted = _project_trusted(files)
    checked = [s for s in servers if s[0] != "project" or trusted]
    typer.echo("Checking MCP server health…\n")
    health = asyncio.run(_health(files, checked)) if checked else {}
    for scope, name, entry in servers:
        if scope == "project" and not trusted:
            status = "⏸ Pending approval (run `dexa trust` to approve)"
        else:
            status = health.get(name, "✘ Failed to connect")
        typer.echo(f"{name}: {_target(entry)} - {status}")


def _not_found(name: str, files: ScopeFiles) -> typer.Exit:
    names = sorted({n for _, n, _ in _all(files)})
    return _fail(f'No MCP server named "{name}". Configured servers: {", ".join(names)}')


@app.command("get", help="Show one server's configuration and status.")
def get(name: Annotated[str, typer.Argument(help="Server name")]) -> None:
    files = _files()
    found = [(s, e) for s, n, e in _all(files) if n == name]
    if not found:
        raise _not_found(name, files)
    # Claude Code resolves a name by precedence: local, then project, then user.
    scope, entry = min(found, key=lambda f: PRECEDENCE.index(f[0]))
    if scope == "project" and not _project_trusted(files):
        status = "⏸ Pending approval (run `dexa trust` to approve)"
    else:
        chosen = cast(McpScope, scope)
        one: list[tuple[McpScope, str, dict[str, Any]]] = [(chosen, name, entry)]
        status = asyncio.run(_health(files, one)).get(name, "✘ Failed to connect")
    lines = [f"{name}:", f"  Scope: {SCOPE_LABELS[scope]}"]
    if status.startswith("✘"):
        state, _, issue = status.partition(" — ")
        lines += [f"  Status: {state}", f"  Issue: {issue}"]
    else:
        lines.append(f"  Status: {status}")
    lines.append(f"  Type: {entry.get('type', 'stdio')}")
    if entry.get("url"):
        lines.append(f"  URL: {entry['url']}")
        if entry.get("headers"):
            lines += ["  Headers:", *(f"    {k}: {v}" for k, v in entry["headers"].items())]
    else:
        lines += [
            f"  Command: {entry.get('command', '')}",
            f"  Args: {' '.join(map(str, entry.get('args') or []))}",
            "  Environment:",
            *(f"    {k}={v}" for k, v in (entry.get("env") or {}).items()),
        ]
    lines += ["", f"To remove this server, run: dexa mcp remove {name} -s {scope}"]
    typer.echo("\n".join(lines))


@app.command("remove", help="Remove a server (from one scope with -s when it exists in several).")
def remove(name: Annotated[str, typer.Argument(help="Server name")], scope: ScopeOpt = None) -> None:
    files = _files()
    if scope is not None:
        where = _scope(scope)
        if name not in files.servers(where):
            raise _fail(f"No MCP server found with name: {name} in {where} config")
        files.remove(where, name)
        typer.echo(f"Removed MCP server {name} from {where} config")
        typer.echo(f"File modified: {files.where(where)}")
        return
    scopes: list[McpScope] = [s for s in SCOPES if name in files.servers(s)]
    if not scopes:
        raise _not_found(name, files)
    if len(scopes) > 1:
        listing = "\n".join(f"  - {SCOPE_LABELS[s]} ({files.where(s)})" for s in scopes)
        hints = "\n".join(f"  dexa mcp remove {name} -s {s}" for s in scopes)
        raise _fail(
            f'MCP server "{name}" exists in multiple scopes:\n{listing}\n\n'
            f"To remove from a specific scope, use:\n{hints}"
        )
    files.remove(scopes[0], name)
    typer.echo(f'Removed MCP server "{name}" from {scopes[0]} config')
    typer.echo(f"File modified: {files.where(scopes[0])}")
