"""`dexa -p` / `dexa run -p`: one headless run in-process, printing Claude Code's text / json / stream-json shapes.

A failure before the session exists (no credentials, an unknown --resume id, a bad flag value) is still a
`result` with `is_error` when the output is json or stream-json, so a program reading stdout always gets one.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import replace
from typing import Any, TextIO

from dexa.cli import startup_gc
from dexa.core.errors import ConfigError, DexaError, NotFoundError
from dexa.core.session import Session
from dexa.headless.turns import TurnRunner
from dexa.headless.wire import error_result, init_message, print_result
from dexa.runtime.prompts import prepare_prompt
from dexa.wiring import LOCAL_ORG, Runtime, check_model_credentials

from .inventory import session_inventory
from .run_options import RunOptions


def _write(out: TextIO, obj: dict[str, Any]) -> None:
    out.write(json.dumps(obj) + "\n")
    out.flush()


async def _fork(rt: Runtime, parent: Session, opts: RunOptions) -> Session:
    """`--fork-session`: a new session id holding a copy of the resumed conversation (Claude Code's fork)."""
    child = await rt.create_session(
        cwd=parent.cwd,
        model=opts.model or parent.model,
        permission_mode=opts.permission_mode or parent.permission_mode,
        config=parent.config,
        title=parent.title,
        session_id=opts.session_id,
    )
    for message in await rt.store.list_messages(parent.id):
        await rt.store.put_message(child.id, message)
    done = parent.turn_state.turn if parent.turn_state is not None else parent.turns_completed
    return await rt.store.update_session(replace(await rt.store.get_session(child.id), turns_completed=done))


PER_RUN_EXTRA = ("cli_agents", "plugin_dirs", "sdk_mcp_servers")


async def _open_session(rt: Runtime, opts: RunOptions, env: dict[str, str]) -> Session:
    store = rt.store
    can_prompt = opts.permission_prompt_tool == "stdio"
    if opts.session_id and (opts.fork_session or not (opts.resume or opts.continue_)):
        try:
            await store.get_session(opts.session_id)
        except NotFoundError:
            pass
        else:
            raise ConfigError(f"Session ID {opts.session_id} is already in use.")
    if opts.resume:
        try:
            session = await store.get_session(opts.resume)
        except NotFoundError:
            raise NotFoundError(f"No conversation found with session ID: {opts.resume}") from None
    elif opts.continue_:
        recent = [s for s in await store.list_sessions(org_id=LOCAL_ORG, limit=20, cwd=opts.cwd) if not s.parent_id]
        if not recent:
            raise NotFoundError(f"No conversation found to continue in {opts.cwd}")
        session = recent[0]
    else:
        model = opts.model or rt.settings.default_model
        check_model_credentials(model, env)
        return await rt.create_session(
            cwd=opts.cwd,
            model=model,
            permission_mode=opts.permission_mode,
            config=replace(opts.config, headless=not can_prompt),
            title=(opts.prompt or "")[:80],
            session_id=opts.session_id,
        )
    check_model_credentials(opts.model or session.model, env)
    if opts.fork_session:
        session = await _fork(rt, session, opts)
    # A resumed session keeps its model unless --model is given (Claude Code's rule), and is headless here.
    # --agents, --plugin-dir and SDK-hosted MCP servers belong to this invocation, as in Claude Code, which keeps
    # none of them with the session: a resume without them has none, a resume with other ones has those.
    extra = {k: v for k, v in session.config.extra.items() if k not in PER_RUN_EXTRA}
    extra.update({k: v for k, v in opts.config.extra.items() if k in PER_RUN_EXTRA})
    changes: dict[str, Any] = {"config": replace(session.config, headless=not can_prompt, extra=extra)}
    if opts.model:
        changes["model"] = opts.model
    if opts.permission_mode:
        changes["permission_mode"] = opts.permission_mode
    return await store.update_session(replace(session, **changes))


def _fail_early(exc: DexaError, opts: RunOptions, out: TextIO, started: float) -> int:
    sys.stderr.write(f"Error: {exc}\n")
    if opts.output_format in ("json", "stream-json"):
        _write(
            out,
            error_result(str(exc), session_id=opts.session_id or "", duration_ms=int((time.time() - started) * 1000)),
        )
    return 1


async def run_headless(rt: Runtime, opts: RunOptions, env: dict[str, str], out: TextIO = sys.stdout) -> int:
    started = time.time()
    try:
        session = await _open_session(rt, opts, env)
        built_from = await rt.store.last_seq(session.id)  # config problems found while building are shown below
        envobj = await rt.envs.env_for(session)
    except DexaError as exc:
        return _fail_early(exc, opts, out, started)
    startup_gc.resume()  # the session and its environment are built: start-up is done (cli/startup_gc.py)
    api_key_source = "ANTHROPIC_API_KEY" if env.get("ANTHROPIC_API_KEY") else "none"
    fallbacks = tuple(m.strip() for m in (opts.fallback_model or "").split(",") if m.strip())
    tools = envobj.tools.names()
    if opts.input_format == "stream-json":
        from .control import ControlChannel
        from .streaming import StreamSession

        channel = ControlChannel(out)
        stream = StreamSession(
            rt,
            session,
            channel,
            tools=tools,
            api_key_source=api_key_source,
            partial=opts.include_partial_messages,
            replay=opts.replay_user_messages,
            prompt_tool=opts.permission_prompt_tool == "stdio",
            env=env,
            fallback_models=fallbacks,
        )
        channel.start()
        return await stream.run()

    for name in session.config.extra.get("sdk_mcp_servers") or []:
        # Only an Agent SDK program (which speaks stream-json on stdin) can answer for the servers it hosts.
        sys.stderr.write(f"dexa: warning: SDK MCP server {name!r} skipped: it needs --input-format stream-json\n")
    messages: list[dict[str, Any]] = []
    streaming = opts.output_format == "stream-json"

    def sink(obj: dict[str, Any]) -> None:
        if streaming:
            _write(out, obj)
        elif opts.verbose and opts.output_format == "json":
            messages.append(obj)

    turns = TurnRunner(
        rt, session.id, sink, partial=streaming and opts.include_partial_messages, fallback_models=fallbacks, env=env
    )
    await turns.start()
    turns.cursor = built_from
    inventory = await session_inventory(envobj, err=sys.stderr)
    sink(init_message(session, tools=tools, api_key_source=api_key_source, **inventory))
    outcome: dict[str, Any] | None = None
    if session.turn_state is not None:  # an unfinished turn (crash, outage): finish it first
        outcome = await turns.drive()
    if opts.prompt:
        prepared = await prepare_prompt(opts.prompt, session, envobj)
        if prepared.text is None:
            cmd = prepared.command
            if cmd is not None and cmd.kind == "builtin" and cmd.name == "compact":
                await rt.engine.compact(await rt.store.get_session(session.id), envobj, trigger="manual")
            else:
                raise ConfigError(
                    cmd.message
                    if cmd and cmd.message
                    else f"/{cmd.name if cmd else '?'} is only available in the interactive CLI"
                )
        else:
            await rt.engine.submit(session.id, prepared.text)
            outcome = await drive_interruptible(turns)
    if outcome is None and not opts.prompt and session.turn_state is None:
        return _fail_early(
            ConfigError("Input must be provided either through stdin or as a prompt argument when using --print"),
            opts,
            out,
            started,
        )
    result = await turns.result(outcome)
    return print_result(
        result, output_format=opts.output_format, verbose=opts.verbose, messages=messages, out=out, err=sys.stderr
    )


async def drive_interruptible(turns: TurnRunner) -> dict[str, Any] | None:
    """Drive the turn; Ctrl-C (SIGINT) ends it `interrupted`: history repaired, session idle and resumable.

    SIGTERM (a supervisor, `timeout`, a closed CI job) takes the same path: its default action would end the
    process at once and leave the command's sandbox running, since commands run detached to survive a crash."""
    import asyncio
    import signal

    loop = asyncio.get_running_loop()
    hit: list[asyncio.Task[None]] = []
    signals = (signal.SIGINT, signal.SIGTERM)

    def on_signal() -> None:
        if hit:
            return
        sys.stderr.write("\nInterrupted: the session stays resumable (dexa run --resume ID).\n")
        hit.append(loop.create_task(turns.interrupt()))

    try:
        for sig in signals:
            loop.add_signal_handler(sig, on_signal)
    except (NotImplementedError, RuntimeError):  # not the main thread: no handler, default behaviour
        return await turns.drive()
    try:
        return await turns.drive()
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)
