"""The loopback Messages-API fake, spoken to over raw HTTP (the SDK-level tests live with the adapter)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from dexa.testing.messages_api import FakeMessagesServer, serve
from dexa.testing.script import Script

TOOLS = [{"name": "Bash", "description": "run", "input_schema": {"type": "object"}}]
SCRIPT = {
    "turns": [
        {"error": {"status": 529}},
        {"text": "Looking now.", "tool_uses": [{"name": "Bash", "input": {"command": "ls -la"}}]},
        {"thinking": "all good", "text": "Done."},
    ]
}


@pytest.fixture
def server() -> Iterator[FakeMessagesServer]:
    with serve(Script.from_dict(SCRIPT)) as running:
        yield running


def body(*, stream: bool = False, messages: list[dict[str, Any]] | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "model": "claude-sonnet-5",
        "max_tokens": 256,
        "stream": stream,
        "tools": TOOLS,
        "messages": messages or [{"role": "user", "content": "hi"}],
        **extra,
    }


def sse(response: httpx.Response) -> list[tuple[str, dict[str, Any]]]:
    events: list[tuple[str, dict[str, Any]]] = []
    for chunk in response.text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in chunk.splitlines())
        events.append((lines["event"], json.loads(lines["data"])))
    return events


def test_injected_overload_is_a_529_with_an_api_error_body(server: FakeMessagesServer) -> None:
    response = httpx.post(f"{server.url}/v1/messages", json=body(), headers={"x-api-key": "anything"})
    assert response.status_code == 529
    assert response.json()["type"] == "error"
    assert response.json()["error"]["type"] == "overloaded_error"


def test_streaming_follows_the_api_event_sequence(server: FakeMessagesServer) -> None:
    httpx.post(f"{server.url}/v1/messages", json=body())  # spend the injected 529
    response = httpx.post(f"{server.url}/v1/messages", json=body(stream=True))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = sse(response)
    names = [name for name, _ in events]
    assert names[:3] == ["message_start", "content_block_start", "ping"]
    assert names[-2:] == ["message_delta", "message_stop"]
    assert names.count("content_block_start") == names.count("content_block_stop") == 2
    assert all(name == data["type"] for name, data in events)
    start = events[0][1]["message"]
    assert start["content"] == [] and start["stop_reason"] is None and start["usage"]["input_tokens"] >= 1
    text = "".join(d["delta"]["text"] for n, d in events if n == "content_block_delta" and d["index"] == 0)
    assert text == "Looking now."
    tool_start = [d for n, d in events if n == "content_block_start"][1]["content_block"]
    assert tool_start["type"] == "tool_use" and tool_start["input"] == {}
    partial = "".join(d["delta"]["partial_json"] for n, d in events if n == "content_block_delta" and d["index"] == 1)
    assert json.loads(partial) == {"command": "ls -la"}
    final = events[-2][1]
    assert final["delta"]["stop_reason"] == "tool_use" and final["usage"]["output_tokens"] > 1


def test_non_streaming_reply_is_a_complete_message_and_turns_follow_the_history(server: FakeMessagesServer) -> None:
    httpx.post(f"{server.url}/v1/messages", json=body())
    first = httpx.post(f"{server.url}/v1/messages", json=body()).json()
    assert first["type"] == "message" and first["stop_reason"] == "tool_use"
    tool_id = first["content"][1]["id"]
    history = [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": first["content"]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": tool_id, "content": "x"}]},
    ]
    second = httpx.post(
        f"{server.url}/v1/messages", json=body(messages=history, thinking={"type": "enabled", "budget_tokens": 1024})
    ).json()
    assert [b["type"] for b in second["content"]] == ["thinking", "text"]
    assert second["content"][1]["text"] == "Done."
    # Same history again (e.g. after a crash): same reply, ids included.
    assert httpx.post(f"{server.url}/v1/messages", json=body()).json() == first


def test_tool_uses_the_request_did_not_declare_are_left_out(server: FakeMessagesServer) -> None:
    httpx.post(f"{server.url}/v1/messages", json=body())
    reply = httpx.post(f"{server.url}/v1/messages", json=body(tools=[])).json()
    assert [b["type"] for b in reply["content"]] == ["text"] and reply["stop_reason"] == "end_turn"


def test_more_than_four_cache_breakpoints_are_rejected_like_the_api(server: FakeMessagesServer) -> None:
    marked = {"type": "text", "text": "x", "cache_control": {"type": "ephemeral"}}
    response = httpx.post(f"{server.url}/v1/messages", json=body(messages=[{"role": "user", "content": [marked] * 5}]))
    assert response.status_code == 400
    assert "maximum of 4" in response.json()["error"]["message"]


def test_rate_limit_carries_retry_after() -> None:
    with serve(Script.from_dict({"turns": [{"error": {"status": 429, "retry_after": 3}}, {"text": "ok"}]})) as srv:
        response = httpx.post(f"{srv.url}/v1/messages", json=body())
        assert response.status_code == 429 and response.headers["retry-after"] == "3"
        assert response.json()["error"]["type"] == "rate_limit_error"
        assert httpx.post(f"{srv.url}/v1/messages", json=body()).status_code == 200


def test_requests_are_recorded_with_headers_and_reset_clears_them(server: FakeMessagesServer) -> None:
    httpx.post(f"{server.url}/v1/messages/count_tokens", json=body(), headers={"x-api-key": "k1"})
    recorded = httpx.get(f"{server.url}/_dexa/requests").json()["requests"]
    assert len(recorded) == 1
    assert recorded[0]["path"] == "/v1/messages/count_tokens"
    assert recorded[0]["headers"]["x-api-key"] == "k1"
    assert recorded[0]["body"]["messages"] == [{"role": "user", "content": "hi"}]
    httpx.post(f"{server.url}/_dexa/reset")
    assert httpx.get(f"{server.url}/_dexa/requests").json()["requests"] == []
    # Reset also re-arms injected errors.
    httpx.post(f"{server.url}/v1/messages", json=body())
    httpx.post(f"{server.url}/_dexa/reset")
    assert httpx.post(f"{server.url}/v1/messages", json=body()).status_code == 529


def test_count_tokens_and_unknown_routes(server: FakeMessagesServer) -> None:
    counted = httpx.post(f"{server.url}/v1/messages/count_tokens", json=body()).json()
    assert counted["input_tokens"] > 0
    missing = httpx.get(f"{server.url}/v1/nothing")
    assert missing.status_code == 404 and missing.json()["error"]["type"] == "not_found_error"


def test_cli_prints_its_url_and_serves_until_killed(tmp_path: Path) -> None:
    script = tmp_path / "s.json"
    script.write_text(json.dumps({"turns": [{"text": "from the cli"}]}))
    proc = subprocess.Popen(
        [sys.executable, "-m", "dexa.testing.messages_api", "--script", str(script)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert line.startswith("listening on http://127.0.0.1:")
        url = line.removeprefix("listening on ")
        reply = httpx.post(f"{url}/v1/messages", json=body(), timeout=10).json()
        assert reply["content"][0]["text"] == "from the cli"
    finally:
        proc.kill()
        proc.wait(timeout=10)


def test_cli_rejects_a_bad_script_with_a_clear_message(tmp_path: Path) -> None:
    script = tmp_path / "bad.json"
    script.write_text("[]")
    done = subprocess.run(
        [sys.executable, "-m", "dexa.testing.messages_api", "--script", str(script)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2 and "bad.json" in done.stderr
