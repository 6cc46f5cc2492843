"""`dexa doctor`: is this machine and this project ready to run Dexa, and if not, how to fix it.

Each check is real: bubblewrap starts a sandbox, the egress proxy listens on a socket, configured MCP servers are
started and asked for their tools, settings files, skills, commands and hooks go through the loaders that sessions
use (so a problem is worded as a session would report it). A line is OK, WARN (works, degraded) or FAIL (a
session would fail); any FAIL makes the exit code 1.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import subprocess
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.console import Console
from rich.markup import escape

from dexa.core.errors import DexaError

Status = Literal["OK", "WARN", "FAIL"]
MCP_TIMEOUT_S = 10.0
STYLES = {"OK": "green", "WARN": "yellow", "FAIL": "bold red"}


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    status: Status
    message: str
    fix: str = ""


def check_bwrap() -> Check:
    from dexa.adapters.local_sandbox.bwrap import probe_bwrap

    problem = probe_bwrap()
    if problem is None:
        return Check("bubblewrap", "OK", "bwrap starts an unprivileged sandbox (user namespaces work)")
    if "not installed" in problem:
        fix = "install it: `sudo apt-get install bubblewrap` (or `make system-deps`)"
    else:
        fix = (
            "allow unprivileged user namespaces: `sudo sysctl -w kernel.unprivileged_userns_clone=1` and, on "
            "Ubuntu 24.04+, `sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0`; in a container, run "
            "it with --security-opt seccomp=unconfined or --privileged"
        )
    return Check("bubblewrap", "FAIL", problem, fix)


def check_network(cwd: str, home: str) -> list[Check]:
    from dexa.config.loader import load_settings

    settings, _ = load_settings(cwd, home=home)
    policy = settings.dexa.network
    level = f"network level {policy.level!r} from settings"
    out: list[Check] = []
    if not shutil.which("socat"):
        out.append(
            Check(
                "egress bridge",
                "WARN" if policy.level == "none" else "FAIL",
                f"socat is not installed; sessions with network access cannot reach the proxy ({level})",
                "install it: `sudo apt-get install socat` (or `make system-deps`)",
            )
        )
    problem = asyncio.run(_proxy_starts(policy))
    if problem:
        out.append(
            Check("egress proxy", "FAIL", f"the egress proxy did not start: {problem}", "check /tmp is writable")
        )
    else:
        out.append(Check("egress proxy", "OK", f"the egress proxy listens on a Unix socket; {level}"))
    return out


async def _proxy_starts(policy: object) -> str:
    from dexa.egress.policy import NetworkPolicy
    from dexa.egress.proxy import EgressProxy

    assert isinstance(policy, NetworkPolicy)
    path = os.path.join(tempfile.mkdtemp(prefix="dexa-doctor-"), "proxy.sock")
    try:
        async with EgressProxy(policy) as proxy:
            await proxy.start(path)
            _, writer = await asyncio.open_unix_connection(path)
            writer.close()
    except (OSError, DexaError) as exc:
        return str(exc)
    finally:
        shutil.rmtree(os.path.dirname(path), ignore_errors=True)
    return ""


def check_keys() -> Check:
    env = os.environ
    if env.get("CLAUDE_CODE_USE_BEDROCK") == "1":
        return Check("model access", "OK", "Bedrock (CLAUDE_CODE_USE_BEDROCK=1) with the AWS credentials in scope")
    for name in ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN"):
        if env.get(name):
            base = env.get("ANTHROPIC_BASE_URL")
            return Check("model access", "OK", f"{name} is set" + (f" (API at {base})" if base else ""))
    return Check(
        "model access",
        "WARN",
        "no ANTHROPIC_API_KEY: only scripted models run (`dexa demo`, `--model scripted:FILE`)",
        "export ANTHROPIC_API_KEY=sk-ant-... (or CLAUDE_CODE_USE_BEDROCK=1 with AWS credentials)",
    )


def check_settings(cwd: str, home: str) -> list[Check]:
    from dexa.agents.extensions import load_extensions
    from dexa.config.loader import load_settings

    _, problems = load_settings(cwd, home=home)
    problems = [*problems, *load_extensions(cwd, home=home).problems]
    if not problems:
        return [Check("settings", "OK", "settings files, hooks, skills, commands and agents load without problems")]
    return [
        Check("settings", "FAIL", f"{p.file}: {p.key + ': ' if p.key else ''}{p.message}", f"edit {p.file}")
        for p in problems
    ]


def check_mcp() -> list[Check]:
    from dexa.cli import mcp_cmd

    files = mcp_cmd._files()  # pyright: ignore[reportPrivateUsage]
    servers = mcp_cmd._all(files)  # pyright: ignore[reportPrivateUsage]
    if not servers:
        return [Check("MCP servers", "OK", "none configured")]
    trusted = mcp_cmd._project_trusted(files)  # pyright: ignore[reportPrivateUsage]
    checked = [s for s in servers if s[0] != "project" or trusted]
    health = asyncio.run(mcp_cmd._health(files, checked)) if checked else {}  # pyright: ignore[reportPrivateUsage]
    out: list[Check] = []
    for scope, name, _ in servers:
        label = f"MCP {name} ({scope})"
        if scope == "project" and not trusted:
            out.append(Check(label, "WARN", "not started: the project is not trusted", "run `dexa trust` here"))
            continue
        status = health.get(name, "✘ Failed to connect")
        if status.startswith("✔"):
            out.append(Check(label, "OK", "starts and lists its tools"))
        else:
            cause = status.removeprefix("✘ ").strip()
            out.append(Check(label, "FAIL", cause, f"`dexa mcp get {name}` shows its configuration"))
    return out


def check_tool(name: str, binary: str, why: str, fix: str, *, required: bool) -> Check:
    path = shutil.which(binary)
    if path is None:
        return Check(name, "FAIL" if required else "WARN", f"{binary} is not installed: {why}", fix)
    try:
        version = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        version = ""
    first = version.splitlines()[0] if version else path
    return Check(name, "OK", first)


def run_checks(cwd: str, home: str) -> list[Check]:
    checks = [check_bwrap(), *check_network(cwd, home), check_keys(), *check_settings(cwd, home), *check_mcp()]
    checks.append(
        check_tool(
            "ripgrep",
            "rg",
            "the Grep tool falls back to a slower search",
            "`sudo apt-get install ripgrep`",
            required=False,
        )
    )
    checks.append(
        check_tool(
            "git", "git", "checkpoints of git repos, PRs and diffs need it", "`sudo apt-get install git`", required=True
        )
    )
    return checks


def doctor(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per check, as a list")] = False,
) -> None:
    """Check this machine and project: sandbox, network, keys, MCP servers, settings, ripgrep, git; says how to fix
    each problem. Exit code 1 when any check fails."""
    # The loaders also log each problem as a warning; here they are the report itself.
    logging.getLogger("dexa").setLevel(logging.ERROR)
    checks = run_checks(str(Path.cwd()), str(Path.home()))
    failed = any(c.status == "FAIL" for c in checks)
    if as_json:
        typer.echo(json.dumps([asdict(c) for c in checks], indent=2))
        raise typer.Exit(1 if failed else 0)
    console = Console(highlight=False, soft_wrap=True)
    for c in checks:
        console.print(f"[{STYLES[c.status]}]{c.status:<4}[/] {escape(c.name)}: {escape(c.message)}")
        if c.fix and c.status != "OK":
            console.print(f"     fix: {escape(c.fix)}")
    summary = {s: sum(1 for c in checks if c.status == s) for s in ("OK", "WARN", "FAIL")}
    console.print(f"\n{summary['OK']} ok, {summary['WARN']} warnings, {summary['FAIL']} failures")
    raise typer.Exit(1 if failed else 0)


def register(app: typer.Typer) -> None:
    app.command("doctor")(doctor)
