"""The thin client of an auto-attached `dexa run -p` (cli/attach.py): the same run as `--server URL`, on the
standard library alone.

An attached run only speaks HTTP to a `dexa serve` on loopback: create the session, send the prompt, follow its
events until the turn ends (denying any ask: there is no approver), read the final session, print the result.
`dexa.cli.remote` does the same through `DexaClient` (httpx, HTTP/2 and the API's pydantic schemas): about 450
modules and 0.3-0.5 s of CPU before the first request, for a process that waits on a warm engine the rest of the
time. Here: `http.client`, `json`, and the wire helpers that shape Claude Code's output. Only what an attachable run
can ask for (attach.py: a text prompt, text or json output, no resume) is supported.
"""

from __future__ import annotations

import http.client
import json
import sys
import time
from collections.abc import Iterator
from typing import Any, TextIO
from urllib.parse import urlsplit

from dexa.cli.run_options import RunOptions
from dexa.client.errors import problem_error
from dexa.core.errors import ConfigError, DexaError
from dexa.core.events import Event, EventType
from dexa.core.messages import Usage
from dexa.core.session import Session
from dexa.headless.wire import init_message, print_result, result_message, wire_messages

FINAL_EVENTS = frozenset({EventType.TURN_COMPLETED, EventType.TURN_FAILED, EventType.TURN_CANCELLED})
NO_APPROVER = "no approver in this headless run; allow it with --allowedTools or settings"
TIMEOUT_S = 30.0


class _Server:
    """One keep-alive connection for the calls, another for the event stream (it stays open while calls go out)."""

    def __init__(self, url: str, token: str) -> None:
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise ConfigError(f"an attached run needs an http:// loopback URL, not {url!r}")
        self.url = url.rstrip("/")
        self._host, self._port = parts.hostname, parts.port or 80
        self._headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        self._calls = self._connect(TIMEOUT_S)

    def _connect(self, timeout: float | None) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self._host, self._port, timeout=timeout)

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """The decoded JSON answer; a problem+json answer raises the core error it stands for."""
        payload = None if body is None else json.dumps(body).encode()
        headers = self._headers if payload is None else {**self._headers, "Content-Type": "application/json"}
        try:
            self._calls.request(method, path, body=payload, headers=headers)
            response = self._calls.getresponse()
            raw = response.read()
        except (ConnectionError, http.client.HTTPException, OSError) as exc:
            self._calls.close()
            raise ConfigError(f"no Dexa server at {self.url} ({exc}); start one with `dexa serve`") from exc
        if response.status >= 400:
            raise problem_error(response.status, response.reason, raw)
        return json.loads(raw) if raw else None

    def events(self, session_id: str, after: int) -> Iterator[dict[str, Any]]:
        """Every event after `after`, in order and once, reconnecting with Last-Event-ID when the server ends the
        stream (its maximum stream length) or the connection drops, until the caller stops iterating."""
        cursor, retry_s = after, 1.0
        while True:
            got = 0
            conn = self._connect(None)  # the stream waits on the turn as long as it takes
            try:
                headers = {**self._headers, "Accept": "text/event-stream", "Last-Event-ID": str(cursor)}
                conn.request("GET", f"/sessions/{session_id}/events", headers=headers)
                response = conn.getresponse()
                if response.status >= 400:
                    raise problem_error(response.status, response.reason, response.read())
                if not (response.getheader("Content-Type") or "").startswith("text/event-stream"):
                    raise ConfigError(f"{self.url} did not answer with an event stream")
                for field, value in _sse_fields(response):
                    if field == "retry" and value.isdigit():
                        retry_s = int(value) / 1000
                    elif field == "data" and value:
                        event = json.loads(value)
                        if int(event["seq"]) <= cursor:
                            continue  # a duplicate after a reconnect race is dropped, never re-delivered
                        cursor = int(event["seq"])
                        got += 1
                        yield event
            except (ConnectionError, http.client.HTTPException) as exc:
                if got == 0 and isinstance(exc, ConnectionRefusedError):
                    raise ConfigError(f"no Dexa server at {self.url} ({exc}); start one with `dexa serve`") from exc
            finally:
                conn.close()
            if got == 0:
                time.sleep(retry_s)

    def close(self) -> None:
        self._calls.close()


def _sse_fields(response: http.client.HTTPResponse) -> Iterator[tuple[str, str]]:
    """(field, value) per line of an SSE stream; `data` lines of one event are joined as the spec says."""
    data: list[str] = []
    for raw in response:
        line = raw.decode("utf-8").rstrip("\r\n")
        if not line:
            if data:
                yield "data", "\n".join(data)
                data = []
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if field == "data":
            data.append(value)
        else:
            yield field, value


def core_session(s: dict[str, Any]) -> Session:
    """Enough of a core Session for the wire helpers, from the API's session JSON (as remote.core_session)."""
    return Session(
        id=s["id"],
        org_id=s["org_id"],
        user_id=s["user_id"],
        cwd=s["cwd"],
        model=s["model"],
        permission_mode=s["permission_mode"],
        status=s["status"],
        usage=Usage(**{k: int(v) for k, v in (s.get("usage") or {}).items() if k in Usage.__dataclass_fields__}),
        cost_usd=float(s.get("cost_usd") or 0.0),
        error=s.get("error") or "",
        result=s.get("result") or "",
    )


def run_attached(url: str, opts: RunOptions, token: str, *, out: TextIO | None = None) -> int:
    """Run like `run_remote` on the attached server. Returns the exit code (1 on an error result, 2 on an error)."""
    server = _Server(url, token)
    try:
        return _run(server, opts, out or sys.stdout)
    except DexaError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    finally:
        server.close()


def _run(server: _Server, opts: RunOptions, out: TextIO) -> int:
    if not opts.prompt:
        raise ConfigError("nothing to do: give a prompt with -p (or --input-format stream-json on stdin)")
    started = time.time()
    c = opts.config
    fields = {
        "cwd": opts.cwd,
        "model": opts.model,
        "permission_mode": opts.permission_mode or "default",
        "headless": True,
        "title": opts.prompt[:80],
        "allowed_tools": list(c.allowed_tools),
        "disallowed_tools": list(c.disallowed_tools),
        "tools": None if c.tools is None else list(c.tools),
        "append_system_prompt": c.append_system_prompt,
        "system_prompt": c.system_prompt,
        "max_turns": c.max_turns,
        "max_budget_usd": c.max_budget_usd,
        "network": c.network or None,
    }
    session = server.call("POST", "/sessions", {k: v for k, v in fields.items() if v is not None})
    sid = session["id"]
    # Only --verbose json output shows the messages, the init message first; the tool list is fetched for it alone.
    messages: list[dict[str, Any]] = []
    verbose = opts.verbose and opts.output_format == "json"
    if verbose:
        tools = server.call("GET", f"/sessions/{sid}/tools")["tools"]
        messages.append(init_message(core_session(session), tools=tools))
    server.call("POST", f"/sessions/{sid}/messages", {"prompt": opts.prompt})
    outcome: dict[str, Any] | None = None
    denials: list[dict[str, Any]] = []
    for data in server.events(sid, int(session.get("last_seq") or 0)):
        event = Event(
            session_id=data["session_id"], seq=data["seq"], type=data["type"], data=data["data"], ts=data["ts"]
        )
        if verbose:
            messages.extend(wire_messages(event, sid))
        if event.type == EventType.PERMISSION_REQUIRED:
            _deny(server, sid, event, denials)
        if event.type in FINAL_EVENTS:
            outcome = {
                **event.data,
                "subtype": event.data.get("subtype")
                or ("success" if event.type == EventType.TURN_COMPLETED else "error_during_execution"),
            }
            break
    if outcome is not None and denials:
        outcome["permission_denials"] = [*outcome.get("permission_denials", []), *denials]
    final = core_session(server.call("GET", f"/sessions/{sid}"))
    result = result_message(final, outcome, duration_ms=int((time.time() - started) * 1000))
    return print_result(
        result, output_format=opts.output_format, verbose=opts.verbose, messages=messages, out=out, err=sys.stderr
    )


def _deny(server: _Server, sid: str, event: Event, denials: list[dict[str, Any]]) -> None:
    body = {"approval_id": str(event.data["approval_id"]), "decision": "deny", "message": NO_APPROVER}
    try:
        server.call("POST", f"/sessions/{sid}/approve", body)
    except DexaError:
        return  # another client answered first
    denials.append(
        {
            "tool_name": event.data.get("tool_name"),
            "tool_use_id": event.data.get("tool_use_id"),
            "tool_input": event.data.get("input"),
        }
    )


__all__ = ["core_session", "run_attached"]
