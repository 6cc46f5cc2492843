"""`dexa run -p ... --server URL`: the headless contract (text / json / stream-json) against a Dexa server."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, TextIO

from dexa.api.schemas.common import EventPublic
from dexa.api.schemas.sessions import SessionPublic
from dexa.cli.run_options import RunOptions
from dexa.client.api import DexaClient
from dexa.client.connect import resolve_token
from dexa.core.errors import ConfigError, DexaError, NotFoundError
from dexa.core.events import Event, EventType
from dexa.core.messages import Usage
from dexa.core.session import Session
from dexa.headless.wire import init_message, print_result, result_message, wire_messages

FINAL_EVENTS = (EventType.TURN_COMPLETED, EventType.TURN_FAILED, EventType.TURN_CANCELLED)
NO_APPROVER = "no approver in this headless run; allow it with --allowedTools or settings"


def _write(out: TextIO, obj: dict[str, Any]) -> None:
    out.write(json.dumps(obj) + "\n")
    out.flush()


def core_session(s: SessionPublic) -> Session:
    """Enough of a core Session for the wire helpers (ids, model, mode, usage, cost, error)."""
    return Session(
        id=s.id,
        org_id=s.org_id,
        user_id=s.user_id,
        cwd=s.cwd,
        model=s.model,
        permission_mode=s.permission_mode,
        status=s.status,
        usage=Usage(**s.usage.model_dump()),
        cost_usd=s.cost_usd,
        error=s.error,
        result=s.result,
    )


def run_remote(
    server_url: str,
    opts: RunOptions,
    *,
    token: str | None = None,
    out: TextIO | None = None,
    stdin: TextIO | None = None,
) -> int:
    """Run like `run_headless`, but on a server. Returns the exit code (1 on an error result, 2 on a usage error)."""
    client = DexaClient(server_url, token or resolve_token())

    async def main() -> int:
        try:
            return await _run(client, opts, out or sys.stdout, stdin or sys.stdin)
        finally:
            await client.aclose()

    try:
        return asyncio.run(main())
    except DexaError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2


async def _open(client: DexaClient, opts: RunOptions) -> SessionPublic:
    c = opts.config
    if opts.resume:
        session = await client.get_session(opts.resume)
    elif opts.continue_:
        recent = await client.list_sessions(limit=1, cwd=opts.cwd)
        if not recent.data:
            raise NotFoundError(f"no previous session in {opts.cwd} on this server to continue")
        session = recent.data[0]
    else:
        return await client.create_session(
            cwd=opts.cwd,
            model=opts.model,
            permission_mode=opts.permission_mode or "default",
            headless=True,
            title=(opts.prompt or "")[:80],
            allowed_tools=list(c.allowed_tools),
            disallowed_tools=list(c.disallowed_tools),
            tools=None if c.tools is None else list(c.tools),
            append_system_prompt=c.append_system_prompt,
            system_prompt=c.system_prompt,
            max_turns=c.max_turns,
            max_budget_usd=c.max_budget_usd,
            network=c.network or None,
        )
    if opts.model and opts.model != session.model:
        sys.stderr.write(f"warning: --model is ignored for a resumed remote session (it uses {session.model})\n")
    if opts.permission_mode and opts.permission_mode != session.permission_mode:
        session = await client.set_mode(session.id, opts.permission_mode)
    return session


async def _prompts(opts: RunOptions, stdin: TextIO) -> AsyncIterator[str]:
    if opts.input_format != "stream-json":
        if opts.prompt:
            yield opts.prompt
        return
    while True:
        line = await asyncio.to_thread(stdin.readline)
        if not line:
            return
        if not line.strip():
            continue
        try:
            msg = json.loads(line)
        except ValueError as exc:
            raise ConfigError(f"stdin: not a JSON user message ({exc}): {line[:200]!r}") from exc
        content = msg.get("message", {}).get("content", "") if isinstance(msg, dict) else ""
        if isinstance(content, list):
            content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
        yield str(content)


async def _follow(
    client: DexaClient,
    session_id: str,
    cursor: int,
    sink: Callable[[dict[str, Any]], None],
    denials: list[dict[str, Any]],
) -> tuple[int, dict[str, Any] | None]:
    """Stream the turn's events to `sink` until it ends; asks are denied (there is no approver here)."""
    async for ev in client.events(session_id, after=cursor):
        cursor = ev.seq
        core = Event(session_id=ev.session_id, seq=ev.seq, type=ev.type, data=ev.data, ts=ev.ts)
        for wire in wire_messages(core, session_id):
            sink(wire)
        if ev.type == EventType.PERMISSION_REQUIRED:
            await _deny(client, session_id, ev, denials)
        if ev.type in FINAL_EVENTS:
            outcome = {
                **ev.data,
                "subtype": ev.data.get("subtype")
                or ("success" if ev.type == EventType.TURN_COMPLETED else "error_during_execution"),
            }
            return cursor, outcome
    return cursor, None


async def _deny(client: DexaClient, session_id: str, ev: EventPublic, denials: list[dict[str, Any]]) -> None:
    try:
        await client.approve(session_id, str(ev.data["approval_id"]), "deny", message=NO_APPROVER)
    except DexaError:
        return  # another client answered first
    denials.append(
        {
            "tool_name": ev.data.get("tool_name"),
            "tool_use_id": ev.data.get("tool_use_id"),
            "tool_input": ev.data.get("input"),
        }
    )


async def _run(client: DexaClient, opts: RunOptions, out: TextIO, stdin: TextIO) -> int:
    started = time.time()
    session = await _open(client, opts)
    streaming = opts.output_format == "stream-json"
    messages: list[dict[str, Any]] = []

    def sink(obj: dict[str, Any]) -> None:
        if streaming:
            _write(out, obj)
        elif opts.verbose and opts.output_format == "json":
            messages.append(obj)

    tools = (await client.tools(session.id)).tools
    sink(init_message(core_session(session), tools=tools))
    cursor = session.last_seq
    outcome: dict[str, Any] | None = None
    denials: list[dict[str, Any]] = []
    asked = False
    async for prompt in _prompts(opts, stdin):
        asked = True
        await client.send_message(session.id, prompt)
        cursor, outcome = await _follow(client, session.id, cursor, sink, denials)
    if not asked:
        raise ConfigError("nothing to do: give a prompt with -p (or --input-format stream-json on stdin)")
    if outcome is not None and denials:
        outcome["permission_denials"] = [*outcome.get("permission_denials", []), *denials]
    final = await client.get_session(session.id)
    result = result_message(core_session(final), outcome, duration_ms=int((time.time() - started) * 1000))
    return print_result(
        result, output_format=opts.output_format, verbose=opts.verbose, messages=messages, out=out, err=sys.stderr
    )
