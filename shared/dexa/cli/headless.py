"""`dexa run -p`: one headless run in-process, printing Claude Code's text / json / stream-json shapes."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any, TextIO

from dexa.cli.wire import init_message, print_result, result_message, wire_messages
from dexa.core.errors import ConfigError, NotFoundError
from dexa.core.events import EventType
from dexa.core.session import Session, SessionConfig
from dexa.runtime.prompts import prepare_prompt
from dexa.wiring import LOCAL_ORG, Runtime, check_model_credentials

FINAL_EVENTS = (EventType.TURN_COMPLETED, EventType.TURN_FAILED, EventType.TURN_CANCELLED)


@dataclass(slots=True, kw_only=True)
class RunOptions:
    prompt: str | None
    cwd: str
    output_format: str = "text"
    input_format: str = "text"
    verbose: bool = False
    resume: str | None = None
    continue_: bool = False
    model: str | None = None
    permission_mode: str | None = None
    session_id: str | None = None
    config: SessionConfig = field(default_factory=SessionConfig)


def _write(out: TextIO, obj: dict[str, Any]) -> None:
    out.write(json.dumps(obj) + "\n")
    out.flush()


async def _open_session(rt: Runtime, opts: RunOptions, env: dict[str, str]) -> Session:
    store = rt.store
    if opts.session_id and not opts.resume:
        try:
            await store.get_session(opts.session_id)
        except NotFoundError:
            pass
        else:
            raise ConfigError(f"session id {opts.session_id} is already in use (resume it with --resume)")
    if opts.resume:
        session = await store.get_session(opts.resume)
    elif opts.continue_:
        recent = [s for s in await store.list_sessions(org_id=LOCAL_ORG, limit=20, cwd=opts.cwd) if not s.parent_id]
        if not recent:
            raise NotFoundError(f"no previous session in {opts.cwd} to continue")
        session = recent[0]
    else:
        model = opts.model or rt.settings.default_model
        check_model_credentials(model, env)
        return await rt.create_session(
            cwd=opts.cwd,
            model=model,
            permission_mode=opts.permission_mode,
            config=replace(opts.config, headless=True),
            title=(opts.prompt or "")[:80],
            session_id=opts.session_id,
        )
    # A resumed session keeps its model unless --model is given (Claude Code's rule), and is headless here.
    changes: dict[str, Any] = {"config": replace(session.config, headless=True)}
    if opts.model:
        changes["model"] = opts.model
    if opts.permission_mode:
        changes["permission_mode"] = opts.permission_mode
    return await store.update_session(replace(session, **changes))


async def _drive_and_stream(
    rt: Runtime,
    session_id: str,
    after: int,
    sink: Callable[[dict[str, Any]], None],
) -> tuple[int, dict[str, Any] | None]:
    """Drive the session to idle while translating new events; returns (cursor, final turn outcome)."""
    task = asyncio.create_task(rt.driver.run(session_id, wait_for_approvals=False))
    outcome: dict[str, Any] | None = None
    cursor = after
    while True:
        events = await rt.store.read_events(session_id, after=cursor)
        for ev in events:
            cursor = ev.seq
            if ev.type in (EventType.CONFIG_ERROR, EventType.WARNING):
                # Settings problems never stop a run, but a headless user must still see them.
                where = ": ".join(str(ev.data[k]) for k in ("file", "key") if ev.data.get(k))
                sys.stderr.write(f"dexa: {ev.type}: {where + ': ' if where else ''}{ev.data.get('message', '')}\n")
            for wire in wire_messages(ev, session_id):
                sink(wire)
            if ev.type in FINAL_EVENTS:
                outcome = {
                    **ev.data,
                    "subtype": ev.data.get("subtype")
                    or ("error_during_execution" if ev.type != EventType.TURN_COMPLETED else "success"),
                }
        if task.done() and not events:
            break
        if not events:
            await rt.engine.notifier.wait(f"events:{session_id}", 0.2)
    await task
    return cursor, outcome


def _stdin_prompts(stream: TextIO) -> Iterator[str]:
    for line in stream:
        line = line.strip()
        if not line:
            continue
        msg = json.loads(line)
        content = msg.get("message", {}).get("content", "")
        if isinstance(content, list):
            content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
        yield str(content)


async def run_headless(rt: Runtime, opts: RunOptions, env: dict[str, str], out: TextIO = sys.stdout) -> int:
    started = time.time()
    session = await _open_session(rt, opts, env)
    messages: list[dict[str, Any]] = []
    streaming = opts.output_format == "stream-json"

    def sink(obj: dict[str, Any]) -> None:
        if streaming:
            _write(out, obj)
        elif opts.verbose and opts.output_format == "json":
            messages.append(obj)

    # Problems found while building the environment (held settings, broken .mcp.json) are shown too.
    cursor = await rt.store.last_seq(session.id)
    envobj = await rt.envs.env_for(session)
    sink(
        init_message(
            session,
            tools=envobj.tools.names(),
            api_key_source="ANTHROPIC_API_KEY" if env.get("ANTHROPIC_API_KEY") else "none",
        )
    )
    outcome: dict[str, Any] | None = None
    if session.turn_state is not None:  # an unfinished turn (crash, outage): finish it first
        cursor, outcome = await _drive_and_stream(rt, session.id, cursor, sink)
    prompts: list[str] | Iterator[str]
    if opts.input_format == "stream-json":
        prompts = _stdin_prompts(sys.stdin)
    else:
        prompts = [opts.prompt] if opts.prompt else []
    for prompt in prompts:
        prepared = await prepare_prompt(prompt, session, envobj)
        if prepared.text is None:
            cmd = prepared.command
            if cmd is not None and cmd.kind == "builtin" and cmd.name == "compact":
                await rt.engine.compact(await rt.store.get_session(session.id), envobj, trigger="manual")
                continue
            raise ConfigError(
                cmd.message
                if cmd and cmd.message
                else f"/{cmd.name if cmd else '?'} is only available in the interactive CLI"
            )
        await rt.engine.submit(session.id, prepared.text)
        cursor, outcome = await _drive_and_stream(rt, session.id, cursor, sink)
    if outcome is None and not opts.prompt and session.turn_state is None:
        raise ConfigError("nothing to do: give a prompt with -p (or resume a session with an unfinished turn)")
    session = await rt.store.get_session(session.id)
    result = result_message(session, outcome, duration_ms=int((time.time() - started) * 1000))
    return print_result(result, output_format=opts.output_format, verbose=opts.verbose, messages=messages, out=out,
                        err=sys.stderr)
