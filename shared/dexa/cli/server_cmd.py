"""`dexa serve`, `dexa attach`, `dexa continue` and `dexa chat`: the server and its terminal clients.

Hidden knobs (environment):
    DEXA_BENCH_FAKE_ENV=1        serve an offline runtime (scripted tool-loop model, plain directory workspace);
                                 DEXA_BENCH_TOOL_CALLS (10) and DEXA_BENCH_MODEL_DELAY_MS (20) shape the model.
                                 For benchmarks and tests only: nothing is sandboxed.
    DEXA_RATE_LIMIT=RATE[:BURST] per-org requests/second (default 100:400)
    DEXA_SSE_HEARTBEAT_S         heartbeat comment interval on idle streams (default 15)
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from dexa.core.errors import DexaError

if TYPE_CHECKING:
    from fastapi import FastAPI

    from dexa.api.ports import ApiRuntime
    from dexa.client.api import DexaClient

logger = logging.getLogger(__name__)
err = Console(stderr=True, soft_wrap=True)  # no mid-word wrapping when stderr is a pipe

Server = Annotated[
    str | None, typer.Option("--server", help="Dexa server URL (default: $DEXA_SERVER or http://127.0.0.1:4096)")
]


def _fail(exc: DexaError) -> None:
    err.print(f"[bold red]error:[/] {exc}")
    raise typer.Exit(2)


def _rate_limit_from_env() -> object:
    from dexa.api.ratelimit import RateLimit

    raw = os.environ.get("DEXA_RATE_LIMIT")
    if not raw:
        return RateLimit()
    rate, _, burst = raw.partition(":")
    try:
        return RateLimit(rate=float(rate), burst=int(burst or max(1, int(float(rate) * 4))))
    except ValueError as exc:
        raise typer.BadParameter(f"DEXA_RATE_LIMIT must be RATE[:BURST], e.g. 100:400 ({exc})") from exc


def build_server_app(runtime: ApiRuntime) -> FastAPI:
    """The app `dexa serve` runs. Rewinder and permission checker plug in here once those modules exist."""
    from dexa.api.app import create_app
    from dexa.api.ratelimit import RateLimit
    from dexa.api.sse import StreamConfig

    limit = _rate_limit_from_env()
    assert isinstance(limit, RateLimit)
    stream = StreamConfig(heartbeat_s=float(os.environ.get("DEXA_SSE_HEARTBEAT_S", "15")))
    from dexa.wiring import Runtime

    if isinstance(runtime, Runtime):
        from dexa.runtime.startup import on_serve_start
        from dexa.server_app import build_app

        cwd = serve_workspace(os.getcwd())
        return build_app(
            runtime,
            local=not runtime.settings.hosted,
            rate_limit=limit,
            stream=stream,
            turn_worker=True,
            owns_runtime=True,
            default_cwd=cwd,
            # A long-lived server loads every router (and the code routes) at start: a misconfiguration fails
            # `dexa serve` at once, and no first request waits for an import. Lambda loads them on first use.
            lazy_routers=False,
            # Resume what a killed server left mid-turn, and run schedules.
            on_start=lambda: on_serve_start(runtime, local_cwd=cwd),
        )
    return create_app(
        runtime,
        rate_limit=limit,
        stream=stream,
        turn_worker=True,
        owns_runtime=True,
        default_cwd=serve_workspace(os.getcwd()),
        lazy_routers=False,
    )


def serve_workspace(cwd: str) -> str | None:
    """The directory `dexa serve` registers as the local org's workspace: the one it was started in, so local
    clients (`dexa chat`, the web UI) keep starting sessions there. Other orgs only ever get
    $DEXA_HOME/workspaces/<org_id>. The filesystem root is never registered (it would open the whole machine)."""
    if Path(cwd).resolve() == Path("/"):
        err.print("[yellow]dexa serve started in /: the local org's sessions live under $DEXA_HOME/workspaces[/]")
        return None
    return cwd


def _runtime(home: Path) -> ApiRuntime:
    if os.environ.get("DEXA_BENCH_FAKE_ENV") == "1":
        from dexa.api.fake_runtime import fake_runtime, tool_loop_model

        err.print("[yellow]DEXA_BENCH_FAKE_ENV=1: serving a scripted model over an UNSANDBOXED directory[/]")
        model = tool_loop_model(
            tool_calls=int(os.environ.get("DEXA_BENCH_TOOL_CALLS", "10")),
            delay_s=float(os.environ.get("DEXA_BENCH_MODEL_DELAY_MS", "20")) / 1000,
        )
        return fake_runtime(home / "bench", model=model)
    from dexa.settings import get_settings
    from dexa.wiring import build_runtime

    return build_runtime(get_settings())


def serve(
    host: Annotated[str, typer.Option("--host", help="Interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="TCP port (0 picks a free one)")] = 4096,
    log_level: Annotated[str, typer.Option("--log-level")] = "warning",
) -> None:
    """Run the Dexa HTTP API (sessions, SSE events, approvals) for local clients and the web UI."""
    import uvicorn

    from dexa.auth.bootstrap import LOCAL_ORG, bootstrap_local, token_path
    from dexa.auth.service import AuthService
    from dexa.cli.attach import forget_on_sigterm, forget_server, record_server
    from dexa.settings import get_settings

    home = get_settings().home
    # Where the local org's sessions may run (serve_workspace's directory, the org's workspace root): recorded for
    # auto-attach, which only sends a run here from inside one of them.
    started_in = [os.getcwd()] if Path(os.getcwd()).resolve() != Path("/") else []
    roots = [*started_in, str(get_settings().workspaces_dir / LOCAL_ORG)]
    busy = _port_busy(host, port)
    if busy:
        sys.stderr.write(busy + "\n")  # one line, never wrapped
        raise typer.Exit(1)
    if host not in ("127.0.0.1", "localhost", "::1"):
        err.print(f"[yellow]listening on {host}: reachable from other machines (API keys are still required)[/]")

    # Turns run on their own thread (create_app(turn_worker=True)); a shorter GIL slice lets the HTTP thread
    # answer and deliver events promptly while turns are CPU-busy.
    sys.setswitchinterval(0.001)

    async def main() -> None:
        runtime = _runtime(home)
        try:
            await bootstrap_local(AuthService(runtime.store), home)
            app = build_server_app(runtime)  # from here on the app owns the runtime and closes it on shutdown
        except BaseException:
            aclose = getattr(runtime, "aclose", None)
            if aclose is not None:
                await aclose()
            raise
        # Keep-alive longer than uvicorn's 5 s: a busy client reusing a connection the server just closed as idle
        # sees a ReadError.
        server = uvicorn.Server(
            uvicorn.Config(
                app, host=host, port=port, log_level=log_level, timeout_graceful_shutdown=3, timeout_keep_alive=30
            )
        )
        serving = asyncio.create_task(server.serve())
        while not server.started and not serving.done():  # noqa: ASYNC110 - uvicorn exposes a flag, not an event
            await asyncio.sleep(0.02)
        # `dexa run -p` in this home attaches to this server (cli/attach.py) while the record exists.
        loopback = [s.getsockname() for srv in server.servers for s in srv.sockets] if server.started else []
        loopback = [a for a in loopback if a[0] in ("127.0.0.1", "::1")]
        if loopback:
            host_, port_ = loopback[0][0], loopback[0][1]
            record_server(home, f"http://{'[::1]' if host_ == '::1' else host_}:{port_}", os.environ, roots)
        for s in server.servers if server.started else []:
            for sock in s.sockets:
                addr = sock.getsockname()
                # One parseable line on stdout: tests and scripts read the port from it.
                print(f"dexa serve: listening on http://{addr[0]}:{addr[1]} (token: {token_path(home)})", flush=True)
                codes = getattr(app.state, "handoff_codes", None)
                if codes is not None:
                    # The only way a browser is handed the local key: this one-time link (or pasting the token).
                    print(f"dexa serve: open http://{addr[0]}:{addr[1]}/?code={codes.issue()}", flush=True)
        try:
            await serving
        finally:
            forget_server(home)

    forget_on_sigterm(home)  # uvicorn ends a graceful SIGTERM shutdown by re-raising the signal
    try:
        asyncio.run(main())
    except KeyboardInterrupt:  # uvicorn re-raises the Ctrl-C it handled; the shutdown was already graceful
        forget_server(home)
    except DexaError as exc:
        _fail(exc)


def _port_busy(host: str, port: int) -> str:
    """One line with the fix when the port cannot be bound (uvicorn would log a traceback and exit)."""
    import errno
    import socket

    if port == 0:
        return ""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        return f"dexa serve: cannot resolve --host {host}: {exc.strerror}"
    family, _, _, _, addr = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds: TIME_WAIT is no conflict
        try:
            sock.bind(addr)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return (
                    f"dexa serve: port {port} on {host} is already in use (another dexa serve?); stop it, or pick "
                    "another port: dexa serve --port 0"
                )
            return f"dexa serve: cannot listen on {host}:{port}: {exc.strerror}"
    return ""


async def _attach(
    client: DexaClient, session_id: str, *, after: int, exit_when_idle: bool, interactive: bool, console: Console
) -> int:
    from dexa.client.render import EventRenderer
    from dexa.client.repl import ChatRepl

    session = await client.get_session(session_id)
    renderer = EventRenderer(console)
    repl = ChatRepl(client, session_id, console=console) if interactive else None
    idle_at_start = session.turn is None
    if exit_when_idle and idle_at_start and session.last_seq <= after:
        return 0
    async for ev in client.events(session_id, after=after):
        if repl is not None and ev.seq > session.last_seq:
            repl.cursor = ev.seq
            await repl.handle(ev)  # live: approvals are asked inline
        else:
            renderer.render(ev)
        if exit_when_idle and (
            (idle_at_start and ev.seq >= session.last_seq) or (not idle_at_start and ev.type == "session.idle")
        ):
            break
    return 0


def attach(
    session_id: Annotated[str, typer.Argument(help="Session id")],
    server: Server = None,
    after: Annotated[int, typer.Option("--after", help="Skip history up to this event seq")] = 0,
    exit_when_idle: Annotated[
        bool, typer.Option("--exit-when-idle", help="Stop once the session is idle instead of following")
    ] = False,
    chat_after: Annotated[bool, typer.Option("--chat", help="Open the interactive prompt after catching up")] = False,
) -> None:
    """Replay a session's events and stream it live (running or finished); approvals are asked inline."""
    raise typer.Exit(
        _run_attach(session_id, server, after=after, exit_when_idle=exit_when_idle or chat_after, chat_after=chat_after)
    )


def _run_attach(session_id: str, server: str | None, *, after: int, exit_when_idle: bool, chat_after: bool) -> int:
    from dexa.client.connect import connect
    from dexa.client.repl import ChatRepl

    console = Console()
    interactive = sys.stdin.isatty() and sys.stdout.isatty()

    async def main() -> int:
        client = connect(server)
        try:
            code = await _attach(
                client,
                session_id,
                after=after,
                exit_when_idle=exit_when_idle,
                interactive=interactive and not chat_after,
                console=console,
            )
            if chat_after:
                from dexa.cli.slash import dispatch
                from dexa.client.repl import SessionSpec

                spec = SessionSpec(cwd=(await client.get_session(session_id)).cwd)
                code = await ChatRepl(client, session_id, console=console, spec=spec, slash=dispatch).run()
            return code
        finally:
            await client.aclose()

    try:
        return asyncio.run(main())
    except KeyboardInterrupt:
        return 130
    except DexaError as exc:
        _fail(exc)
        return 2


def continue_(
    server: Server = None,
    here: Annotated[bool, typer.Option("--here", help="Most recent session in the current directory")] = False,
    exit_when_idle: Annotated[bool, typer.Option("--exit-when-idle")] = False,
    chat_after: Annotated[bool, typer.Option("--chat", help="Open the interactive prompt after catching up")] = False,
) -> None:
    """Attach to the most recently active session."""
    from dexa.client.connect import connect

    async def latest() -> str:
        client = connect(server)
        try:
            rows = await client.list_sessions(limit=1, cwd=str(Path.cwd().resolve()) if here else None)
        finally:
            await client.aclose()
        if not rows.data:
            raise DexaError("no sessions on this server yet; start one with `dexa chat`", code="not_found")
        return rows.data[0].id

    try:
        session_id = asyncio.run(latest())
    except DexaError as exc:
        _fail(exc)
        return
    raise typer.Exit(
        _run_attach(session_id, server, after=0, exit_when_idle=exit_when_idle or chat_after, chat_after=chat_after)
    )


def chat(
    # --resume/-r as Claude Code spells it (`claude -r ID`): a pulled session continues in this home's server.
    session_id: Annotated[
        str | None, typer.Option("--session", "-s", "--resume", "-r", help="Continue this session")
    ] = None,
    server: Server = None,
    cwd: Annotated[Path | None, typer.Option("--cwd", help="Working directory for a new session")] = None,
    model: Annotated[str | None, typer.Option("--model", help="sonnet|opus|haiku|<id> (/model changes it)")] = None,
    permission_mode: Annotated[
        str, typer.Option("--permission-mode", help="default|acceptEdits|plan|bypassPermissions|dontAsk")
    ] = "default",
) -> None:
    """Interactive session on a Dexa server: streamed output, tool calls and diffs, inline approvals, slash
    commands (/help). The session is created with the first prompt."""
    from dexa.cli.slash import dispatch
    from dexa.client.connect import connect
    from dexa.client.repl import ChatRepl, SessionSpec

    workdir = str((cwd or Path.cwd()).resolve())
    if session_id is None and server is None:
        from dexa.cli.trust_cmd import prompt_for_trust

        prompt_for_trust(workdir)

    async def main() -> int:
        client = connect(server)
        try:
            if session_id is not None:
                workdir_of = (await client.get_session(session_id)).cwd
                spec = SessionSpec(cwd=workdir_of, model=model, permission_mode=permission_mode)
            else:
                spec = SessionSpec(cwd=workdir, model=model, permission_mode=permission_mode)
                await client.health()  # no server: say so now, not at the first prompt
            repl = ChatRepl(
                client, session_id, spec=spec, slash=dispatch, bypass_allowed=permission_mode == "bypassPermissions"
            )
            return await repl.run()
        finally:
            await client.aclose()

    try:
        code = asyncio.run(main())
    except DexaError as exc:
        _fail(exc)
        return
    raise typer.Exit(code)


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
    app.command("attach")(attach)
    app.command("continue")(continue_)
    app.command("chat")(chat)
