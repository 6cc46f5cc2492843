"""`dexa integrations policy NAME`: what a connected server's reads, writes and tools get (the org output policy).

Registered on the `dexa integrations` app; works on this machine's own org, as the other integration commands do.
The API twin is `GET/PUT /integrations/{id}/policy`.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from .integrations_local import LOCAL_ORG, out, run_local

CHOICES = "direct, stage, auto, deny, or default (remove the rule)"


def _decision(value: str) -> str | None:
    """'default' removes the rule (None); anything else is checked by set_server_policy."""
    return None if value == "default" else value


def policy(
    name: Annotated[str, typer.Argument(help="The integration's name or id (as `dexa integrations list` shows)")],
    reads: Annotated[str | None, typer.Option("--reads", help=f"Its read calls: {CHOICES}")] = None,
    writes: Annotated[str | None, typer.Option("--writes", help=f"Its other calls: {CHOICES}")] = None,
    tool: Annotated[
        list[str] | None, typer.Option("--tool", help="TOOL=DECISION for one tool (beats --reads/--writes); repeat")
    ] = None,
) -> None:
    """Show or set how a connected server's calls are treated: run (direct), staged for review, auto-applied or
    denied. Without options it shows the current rules. Example: --reads direct --tool delete_issue=deny."""
    from dexa.core.errors import ConfigError, NotFoundError
    from dexa.integrations.outputs.server_policy import server_policy, set_server_policy

    changes: dict[str, Any] = {}
    if reads is not None:
        changes["reads"] = _decision(reads)
    if writes is not None:
        changes["writes"] = _decision(writes)
    tools: dict[str, str | None] = {}
    for item in tool or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise typer.BadParameter(f"{item!r}: expected TOOL=DECISION ({CHOICES})", param_hint="--tool")
        tools[key.strip()] = _decision(value.strip())
    if tools:
        changes["tools"] = tools

    async def apply(integrations: Any) -> Any:
        rows = await integrations.registry.list(LOCAL_ORG)
        record = next((r for r in rows if name in (r["name"], r["id"])), None)
        if record is None:
            known = ", ".join(r["name"] for r in rows) or "none"
            raise NotFoundError(f"no integration named {name!r} (connected: {known})")
        kv = integrations.registry.kv
        if not changes:
            return await server_policy(kv, LOCAL_ORG, record["name"])
        try:
            updated, _ = await set_server_policy(kv, LOCAL_ORG, record["name"], changes)
        except ConfigError as exc:
            raise ConfigError(f"{exc}; expected {CHOICES}") from exc
        return updated

    found = run_local(apply)
    table = Table("calls", "decision")
    table.add_row("reads", found.reads or "default (run)")
    table.add_row("writes", found.writes or "default (stage)")
    for tool_name, decision in sorted(found.tools.items()):
        table.add_row(f"tool {tool_name}", decision)
    out.print(f"output policy for [bold]{found.server}[/]")
    out.print(table)
