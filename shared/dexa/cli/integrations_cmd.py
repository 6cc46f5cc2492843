"""`dexa integrations`: connect, inspect and remove business sources (mounted by the main CLI)."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Annotated, Any
from urllib.parse import parse_qs, urlsplit

import typer
from rich.table import Table

from .integration_policy_cmd import policy
from .integrations_local import LOCAL_ORG, LOCAL_USER, err, out, redirect_uri, run_local

app = typer.Typer(
    name="integrations",
    help="Connect business sources (calendar, CRM, email, chat, tickets...).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.command("providers")
def providers() -> None:
    """List the providers an org can connect."""
    from dexa.integrations.catalogue import CATALOGUE

    table = Table("provider", "kind", "auth", "server", "how to connect")
    for p in CATALOGUE.values():
        server = "managed" if p.managed else ("vendor MCP" if p.remote_mcp else "-")
        table.add_row(p.id, p.kind, p.auth, server, p.connect_hint())
    out.print(table)


@app.command("list")
def list_(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List connected integrations."""
    rows = run_local(lambda i: i.registry.list(LOCAL_ORG))
    if as_json:
        out.print_json(json.dumps(rows))
        return
    if not rows:
        out.print("No integrations. See `dexa integrations providers`, then `dexa integrations add PROVIDER`.")
        return
    table = Table("id", "provider", "name", "mode", "status")
    for r in rows:
        table.add_row(r["id"], r["provider"], r["name"], r["mode"], r["status"])
    out.print(table)


@app.command("add")
def add(
    provider: Annotated[str, typer.Argument(help="Provider id, see `dexa integrations providers`")],
    name: Annotated[str | None, typer.Option("--name", help="Server name (tools become mcp__<name>__*)")] = None,
    mode: Annotated[str | None, typer.Option("--mode", help="managed (Dexa-hosted) or remote (vendor MCP)")] = None,
    url: Annotated[str | None, typer.Option("--url", help="Custom MCP server URL (must be allowlisted)")] = None,
    transport: Annotated[str, typer.Option("--transport", help="http or sse (custom servers)")] = "http",
    api_key: Annotated[str | None, typer.Option("--api-key", help="Stored encrypted in the vault")] = None,
    connection_string: Annotated[
        str | None,
        typer.Option("--connection-string", help="Stored encrypted in the vault; '-' reads it from stdin"),
    ] = None,
    config: Annotated[list[str] | None, typer.Option("--config", help="key=value (e.g. subdomain=acme)")] = None,
) -> None:
    """Add an integration (OAuth ones then need `connect`)."""
    settings: dict[str, str] = {}
    for item in config or []:
        key, sep, value = item.partition("=")
        if not sep:
            err.print(f"[red]--config expects key=value, got {item!r}[/]")
            raise typer.Exit(2)
        settings[key] = value
    if connection_string == "-":  # keeps the password out of the process list and shell history
        connection_string = sys.stdin.readline().strip()
    spec = {
        "provider": provider,
        "name": name,
        "mode": mode,
        "url": url,
        "transport": transport,
        "api_key": api_key,
        "connection_string": connection_string,
        "config": settings,
    }
    record = run_local(lambda i: i.registry.add(LOCAL_ORG, {k: v for k, v in spec.items() if v}))
    out.print(f"added [bold]{record['id']}[/] ({record['provider']}, status {record['status']})")
    if record["status"] == "needs_auth":
        out.print(f"next: dexa integrations connect {record['id']}")


@app.command("remove")
def remove(integration_id: str) -> None:
    """Remove an integration and its stored secrets."""
    run_local(lambda i: i.registry.remove(LOCAL_ORG, integration_id))
    out.print(f"removed {integration_id}")


@app.command("status")
def status(
    integration_id: str,
    probe: Annotated[bool, typer.Option("--probe", help="Check health now")] = False,
) -> None:
    """Connection status, token expiry and health of one integration."""
    info = run_local(lambda i: i.registry.status(LOCAL_ORG, integration_id, probe=probe))
    out.print_json(json.dumps(info, default=str))


@app.command("allow")
def allow(patterns: Annotated[list[str], typer.Argument(help="URL globs, e.g. 'https://mcp.corp.example/*'")]) -> None:
    """Set the org allowlist for custom MCP servers."""
    run_local(lambda i: i.registry.set_allowlist(LOCAL_ORG, list(patterns)))
    out.print(f"custom MCP allowlist: {', '.join(patterns)}")


@app.command("client")
def client(
    issuer: str,
    client_id: str,
    secret: Annotated[str | None, typer.Option("--secret", help="Client secret (stored in the vault)")] = None,
) -> None:
    """Register Dexa's OAuth client for an authorization server (keyed by issuer)."""
    from dexa.integrations.oauth import ClientRegistration

    run_local(
        lambda i: i.oauth.register_client(ClientRegistration(issuer=issuer, client_id=client_id, client_secret=secret))
    )
    out.print(f"registered client {client_id} for {issuer}")


def parse_callback(value: str) -> tuple[str, str, str | None]:
    """(code, state, iss) from a pasted redirect URL or its query string."""
    query = urlsplit(value).query if "://" in value else value.lstrip("?")
    params = {k: v[0] for k, v in parse_qs(query).items()}
    if "error" in params:
        raise typer.BadParameter(f"the provider returned {params['error']}: {params.get('error_description', '')}")
    if "code" not in params or "state" not in params:
        raise typer.BadParameter("the callback must contain code and state")
    return params["code"], params["state"], params.get("iss")


GrantFor = Annotated[
    str | None,
    typer.Option(
        "--for",
        help="Whose grant: org (the organisation's shared account; the default here, where you are the admin) or me "
        "(your own account; the default when the integration's grants policy is user_only)",
        show_default=False,
    ),
]
Mine = Annotated[bool, typer.Option("--mine", help="Same as --for me")]


def _owner(integration_id: str, grant_for: str | None, mine: bool) -> str:
    """The grant owner to act on: "org" or the local user's own."""
    from dexa.integrations.grants import ORG, user_owner

    if mine:
        if grant_for not in (None, "me"):
            raise typer.BadParameter("--mine and --for org contradict each other")
        grant_for = "me"
    if grant_for is None:
        record = run_local(lambda i: i.registry.record(LOCAL_ORG, integration_id))
        grant_for = "me" if record.get("grants") == "user_only" else "org"
    if grant_for not in ("org", "me"):
        raise typer.BadParameter(f"--for takes org or me, not {grant_for!r}")
    return ORG if grant_for == "org" else user_owner(LOCAL_USER)


@app.command("connect")
def connect(
    integration_id: str,
    grant_for: GrantFor = None,
    mine: Mine = False,
    wait: Annotated[
        bool, typer.Option("--wait/--no-wait", help="Wait until `dexa serve` receives the browser's callback")
    ] = True,
    paste: Annotated[bool, typer.Option("--paste", help="Prompt for the redirect URL instead (no dexa serve)")] = False,
    open_browser: Annotated[bool, typer.Option("--open", help="Open the URL in a browser")] = False,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds to wait for the callback")] = 600.0,
) -> None:
    """OAuth: print the authorize URL (and open it); `dexa serve` completes the connection when the provider sends
    the browser back to its /oauth/callback. Without a server, use --paste or `dexa integrations callback URL`.

    `--mine` connects your own account; sessions you start then use it, or the org's, as the integration's grants
    policy says (`dexa integrations grants ID --policy user_first|org_only|user_only`)."""
    owner = _owner(integration_id, grant_for, mine)
    url = run_local(lambda i: i.registry.begin_connect(LOCAL_ORG, integration_id, user_id=LOCAL_USER, owner=owner))
    out.print("Open this URL and approve access:")
    out.print(url, soft_wrap=True)
    if open_browser:
        import webbrowser

        webbrowser.open(url)
    if paste:
        callback(typer.prompt("Paste the URL you were redirected to"))
        return
    if not wait:
        out.print("Then run: dexa integrations callback '<the URL you were redirected to>' (within 10 minutes)")
        return
    out.print(f"Waiting for the sign-in to come back to {redirect_uri()} (dexa serve)...")
    state = parse_qs(urlsplit(url).query).get("state", [""])[0]
    status = run_local(lambda i: _await_callback(i, integration_id, state, timeout, owner))
    token = status["token"].get("status")
    out.print(f"connected [bold]{integration_id}[/] ({status['provider']}, {owner} grant, token {token})")


async def _await_callback(
    integrations: Any, integration_id: str, state: str, timeout: float, owner: str = "org"
) -> dict[str, Any]:
    """Polls until the server holds a new grant of `owner` for this integration. Raises DexaError on timeout, or
    when the server spent this sign-in's state without storing one (the exchange failed; its log says why)."""
    from dexa.core.errors import ToolTimeoutError
    from dexa.integrations.oauth import PENDING_NAMESPACE, public

    async def grant() -> dict[str, Any]:
        return public(await integrations.oauth.load(LOCAL_ORG, integration_id, owner))

    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    before = await grant()
    spent_at: float | None = None
    while loop.time() < deadline:
        token = await grant()
        if token.get("connected") and token.get("status") == "ok" and token != before:
            return {**await integrations.registry.status(LOCAL_ORG, integration_id), "token": token}
        if spent_at is None and await integrations.registry.kv.kv_get(PENDING_NAMESPACE, state) is None:
            spent_at = loop.time()  # the callback arrived; the code exchange takes a moment
        if spent_at is not None and loop.time() - spent_at > 30:
            raise ToolTimeoutError("the sign-in ended without a connection; see dexa serve's log and try again")
        await asyncio.sleep(0.5)
    raise ToolTimeoutError(f"no callback within {timeout:g}s; finish with `dexa integrations callback URL`")


@app.command("callback")
def callback(url: Annotated[str, typer.Argument(help="The redirect URL (or its query string)")]) -> None:
    """Finish an OAuth connection with the redirect URL the provider sent you to."""
    code, state, iss = parse_callback(url)
    record = run_local(lambda i: i.registry.complete_connect(state=state, code=code, iss=iss))
    out.print(f"connected [bold]{record['id']}[/] ({record['provider']}, {record.get('grant_owner', 'org')} grant)")


@app.command("grants")
def grants(
    integration_id: str,
    policy: Annotated[
        str | None,
        typer.Option(
            "--policy",
            help="Set whose grant sessions use: user_first (your own, else the org's), org_only, user_only",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Show the org's grant and your own for an OAuth integration, its grants policy and whose grant your sessions
    use; `--policy` changes the policy."""

    async def show(i: Any) -> dict[str, Any]:
        if policy is not None:
            await i.registry.set_grant_policy(LOCAL_ORG, integration_id, policy)
        record = await i.registry.record(LOCAL_ORG, integration_id)
        return {
            "policy": record.get("grants") or "user_first",
            "grant_owner": await i.registry.grant_owner(LOCAL_ORG, record, LOCAL_USER),
            "grants": await i.registry.grants(LOCAL_ORG, integration_id, user_id=LOCAL_USER),
        }

    view = run_local(show)
    out.print(f"policy [bold]{view['policy']}[/]; your sessions use: {view['grant_owner'] or 'no grant (connect one)'}")
    table = Table("owner", "status", "scope", "expires_at", "refresh")
    for g in view["grants"]:
        table.add_row(
            g["owner"], g["status"], g["scope"], str(g["expires_at"]), "yes" if g["has_refresh_token"] else "no"
        )
    out.print(table)


@app.command("disconnect")
def disconnect(integration_id: str, grant_for: GrantFor = None, mine: Mine = False) -> None:
    """Remove one grant (the org's, or yours with --mine), revoked at the vendor where it can be; the integration
    stays (`dexa integrations remove` removes it with every grant)."""
    owner = _owner(integration_id, grant_for, mine)
    run_local(lambda i: i.registry.forget_grant(LOCAL_ORG, integration_id, owner))
    out.print(f"disconnected the {owner} grant of [bold]{integration_id}[/]")


app.command("policy")(policy)
