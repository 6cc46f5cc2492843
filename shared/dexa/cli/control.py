"""The stream-json control channel: what the Claude Agent SDKs speak to a CLI over stdin and stdout.

One JSON object per line each way. In: `user` messages (queued as turns), `control_request`s from the SDK
(`initialize`, `interrupt`, `set_permission_mode`, `set_model`, ...) and `control_response`s answering ours. Out:
the session's messages, our answers, and our own requests (`can_use_tool`, `hook_callback`). Observed shapes:
shared/reference/agent-sdk.md and the SDK's `_internal/query.py`.

stdin is read on a thread, so a control request arriving mid-turn (an interrupt, a permission answer) is handled
while the turn runs; everything is written from the event loop's thread, one line at a time.
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TextIO

from dexa.core.errors import DexaError

Handler = Callable[[dict[str, Any]], Awaitable[dict[str, Any] | None]]


class ControlError(DexaError):
    """A control request we sent was refused, or the other side went away before answering."""


class ControlChannel:
    def __init__(self, out: TextIO, *, stdin: TextIO | None = None) -> None:
        self.out = out
        # Our own reader on fd 0, not sys.stdin: a daemon thread blocked inside sys.stdin's buffer lock would make
        # the interpreter abort at exit ("could not acquire lock for <stdin>").
        self._stdin = stdin if stdin is not None else open(sys.stdin.fileno(), encoding="utf-8", closefd=False)
        self.inbox: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self.handlers: dict[str, Handler] = {}
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self.closed = False  # stdin reached its end: nothing we ask can be answered any more
        self.before_request: Callable[[], Awaitable[Any]] | None = None  # e.g. flush the turn's pending messages

    # ------------------------------------------------------------ lifecycle

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        threading.Thread(target=self._read, name="dexa-stdin", daemon=True).start()

    def _read(self) -> None:
        assert self._loop is not None
        try:
            for line in self._stdin:
                if line.strip():
                    self._loop.call_soon_threadsafe(self._dispatch, line)
        except (OSError, ValueError):  # stdin closed under us: same as its end
            pass
        try:
            self._loop.call_soon_threadsafe(self._eof)
        except RuntimeError:  # the loop is already gone: the run ended first
            pass

    def _eof(self) -> None:
        self.closed = True
        for future in self._pending.values():
            if not future.done():
                future.set_exception(ControlError("stdin closed before the SDK answered"))
        self.inbox.put_nowait(None)

    # ------------------------------------------------------------ in

    def _dispatch(self, line: str) -> None:
        try:
            msg = json.loads(line)
        except json.JSONDecodeError as exc:
            sys.stderr.write(f"dexa: ignoring a stdin line that is not JSON ({exc.msg}): {line[:120]!r}\n")
            return
        if not isinstance(msg, dict):
            sys.stderr.write(f"dexa: ignoring a stdin line that is not a JSON object: {line[:120]!r}\n")
            return
        kind = msg.get("type")
        if kind == "control_response":
            self._answered(msg.get("response") or {})
        elif kind == "control_request":
            task = asyncio.get_running_loop().create_task(self._handle(msg))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        elif kind == "user":
            self.inbox.put_nowait(msg)
        elif kind == "control_cancel_request":
            pass  # we never run an SDK request long enough to cancel; the answer that follows is ignored
        else:
            sys.stderr.write(f"dexa: ignoring a stdin message of type {kind!r}\n")

    def _answered(self, response: dict[str, Any]) -> None:
        future = self._pending.pop(str(response.get("request_id", "")), None)
        if future is None or future.done():
            return
        if response.get("subtype") == "error":
            future.set_exception(ControlError(str(response.get("error") or "the SDK refused the request")))
        else:
            body = response.get("response")
            future.set_result(body if isinstance(body, dict) else {})

    async def _handle(self, msg: dict[str, Any]) -> None:
        request_id = str(msg.get("request_id", ""))
        request = msg.get("request") or {}
        subtype = str(request.get("subtype", ""))
        handler = self.handlers.get(subtype)
        if handler is None:
            self._respond_error(request_id, f"Unsupported control request subtype: {subtype}")
            return
        try:
            body = await handler(request)
        except DexaError as exc:
            self._respond_error(request_id, str(exc))
            return
        except Exception as exc:  # a bug answering one request must not end the session
            self._respond_error(request_id, f"internal error: {type(exc).__name__}: {exc}")
            return
        self.write(
            {
                "type": "control_response",
                "response": {"subtype": "success", "request_id": request_id, "response": body or {}},
            }
        )

    def _respond_error(self, request_id: str, error: str) -> None:
        self.write(
            {"type": "control_response", "response": {"subtype": "error", "request_id": request_id, "error": error}}
        )

    # ------------------------------------------------------------ out

    def write(self, obj: dict[str, Any]) -> None:
        self.out.write(json.dumps(obj) + "\n")
        self.out.flush()

    async def request(self, request: dict[str, Any], *, timeout: float | None = None) -> dict[str, Any]:
        """Ask the SDK something (`can_use_tool`, `hook_callback`) and wait for its answer."""
        if self.closed:
            raise ControlError("stdin is closed: the SDK can no longer answer")
        if self.before_request is not None:
            await self.before_request()
        request_id = str(uuid.uuid4())
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        self.write({"type": "control_request", "request_id": request_id, "request": request})
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError as exc:
            raise ControlError(f"the SDK did not answer {request.get('subtype')} within {timeout:.0f} s") from exc
        finally:
            self._pending.pop(request_id, None)
