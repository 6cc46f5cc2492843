"""Drive one headless turn and translate its events to Claude Code's stream-json lines and `result`.

Used by `dexa run -p` (one turn) and by the stream-json session (one turn per stdin user message). Holds what a
run measures across turns (dexa.headless.usage) and the running turn's task, so an interrupt can cancel it.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import Callable
from typing import Any

from dexa.core.events import Event, EventType
from dexa.wiring import Runtime

from .usage import UsageMeter
from .wire import result_message, stream_event, wire_messages

FINAL_EVENTS = (EventType.TURN_COMPLETED, EventType.TURN_FAILED, EventType.TURN_CANCELLED)
Sink = Callable[[dict[str, Any]], None]


class TurnRunner:
    def __init__(
        self,
        rt: Runtime,
        session_id: str,
        sink: Sink,
        *,
        partial: bool = False,
        wait_for_approvals: bool = False,
        on_event: Callable[[Event], None] | None = None,
        fallback_models: tuple[str, ...] = (),
        env: dict[str, str] | None = None,
    ) -> None:
        self.rt = rt
        self.session_id = session_id
        self.sink = sink
        self.partial = partial
        self.wait_for_approvals = wait_for_approvals
        self.on_event = on_event
        self.meter = UsageMeter()
        self.started = time.time()
        self.cursor = 0
        self._task: asyncio.Task[Any] | None = None
        self.interrupted = False
        self.fallbacks = list(fallback_models)
        self.env = env if env is not None else {}
        self._last_error: dict[str, Any] = {}
        self._outcome: dict[str, Any] | None = None
        self._reading = asyncio.Lock()  # the drive loop and a control request may both catch up

    async def start(self) -> None:
        self.cursor = await self.rt.store.last_seq(self.session_id)

    async def drive(self) -> dict[str, Any] | None:
        """Drive the turn; when the model stays overloaded after its retries, go on with the next
        `--fallback-model` (Claude Code's rule: only an overloaded model falls back)."""
        while True:
            outcome = await self._drive_once()
            overloaded = self._last_error.get("status") == 529 or self._last_error.get("code") == "overloaded_error"
            if not (outcome and outcome.get("retryable") and overloaded and self.fallbacks):
                return outcome
            model = self.fallbacks.pop(0)
            sys.stderr.write(f"dexa: model overloaded; falling back to {model}\n")
            await switch_model(self.rt, self.session_id, model, self.env)

    async def _drive_once(self) -> dict[str, Any] | None:
        self.interrupted = False
        self._last_error = {}
        self._outcome = None
        task = asyncio.create_task(self.rt.driver.run(self.session_id, wait_for_approvals=self.wait_for_approvals))
        self._task = task
        while True:
            seen = await self.catch_up()
            if task.done() and not seen:
                break
            if not seen:
                await self.rt.engine.notifier.wait(f"events:{self.session_id}", 0.2)
        self._task = None
        outcome = self._outcome
        with contextlib.suppress(asyncio.CancelledError):
            await task
        if self.interrupted and outcome is None:
            outcome = {"subtype": "error_during_execution", "error": "interrupted"}
        return outcome

    async def catch_up(self) -> int:
        """Translate every event logged so far; returns how many. Also run before a control request goes to the SDK
        (a hook callback, a permission prompt), so the messages that led to it (the assistant's tool_use) are on
        stdout first, in Claude Code's order."""
        async with self._reading:
            events = await self.rt.store.read_events(self.session_id, after=self.cursor)
            for ev in events:
                self.cursor = ev.seq
                self._outcome = self._translate(ev) or self._outcome
            return len(events)

    def _translate(self, ev: Event) -> dict[str, Any] | None:
        self.meter.feed(ev)
        if ev.type == EventType.ERROR:
            self._last_error = dict(ev.data)
        if self.on_event is not None:
            self.on_event(ev)
        if ev.type in (EventType.CONFIG_ERROR, EventType.WARNING):
            # Settings problems never stop a run, but a headless user must still see them.
            where = ": ".join(str(ev.data[k]) for k in ("file", "key") if ev.data.get(k))
            sys.stderr.write(f"dexa: {ev.type}: {where + ': ' if where else ''}{ev.data.get('message', '')}\n")
        if self.partial:
            partial = stream_event(ev, self.session_id)
            if partial is not None:
                self.sink(partial)
        for wire in wire_messages(ev, self.session_id):
            self.sink(wire)
        if ev.type == EventType.TURN_CANCELLED:
            # Claude Code's shape for an interrupted turn: a synthetic user line, then an error result.
            self.sink(
                {
                    "type": "user",
                    "session_id": self.session_id,
                    "parent_tool_use_id": None,
                    "message": {"role": "user", "content": [{"type": "text", "text": "[Request interrupted by user]"}]},
                }
            )
            return {"subtype": "error_during_execution", "error": "[Request interrupted by user]", "num_turns": 0}
        if ev.type in FINAL_EVENTS:
            return {
                **ev.data,
                "subtype": ev.data.get("subtype")
                or ("error_during_execution" if ev.type != EventType.TURN_COMPLETED else "success"),
            }
        return None

    async def interrupt(self) -> None:
        """Stop the running turn: it ends `cancelled`, its history repaired, the session idle and resumable."""
        task = self._task
        if task is None or task.done():
            return
        self.interrupted = True
        await self.rt.engine.request_cancel(self.session_id)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
        session = await self.rt.store.get_session(self.session_id)
        if session.turn_state is not None:
            await self.rt.engine.finish_cancelled(self.session_id)

    async def result(self, outcome: dict[str, Any] | None) -> dict[str, Any]:
        session = await self.rt.store.get_session(self.session_id)
        usage, since = self.meter.take_turn()
        result = result_message(
            session,
            outcome,
            duration_ms=int((time.time() - self.started) * 1000),
            duration_api_ms=self.meter.api_ms,
            usage=usage.to_dict(),
            model_usage=self.meter.model_usage(),
        )
        result["model_usage_since_last_result"] = since
        return result


async def switch_model(rt: Runtime, session_id: str, model: str, env: dict[str, str]) -> None:
    """Point the session, and its live environment, at another model from the next call on."""
    from dataclasses import replace

    from dexa.adapters.anthropic import make_model
    from dexa.core.models import resolve_model

    session = await rt.store.get_session(session_id)
    live = await rt.engine.envs.env_for(session)
    live.model = make_model(resolve_model(model, env), env)
    await rt.store.update_session(replace(session, model=model))
