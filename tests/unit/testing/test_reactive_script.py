"""A reactive script (`Script.responder`) answers each request from its own history: the tool results it carries."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from dexa.testing.history import results, tool_calls
from dexa.testing.messages_api import serve
from dexa.testing.script import Script, Turn
from dexa.testing.scripted import reply, text, tool_use

TOOLS = [{"name": "lookup", "description": "look up", "input_schema": {"type": "object"}}]


def agent(body: Mapping[str, Any]) -> Turn | None:
    found = results(body, "lookup")
    if not found:
        return reply("Looking it up.", tool_use("lookup", {"q": "owner"}))
    if len(tool_calls(body)) > 1:
        return None
    return text(f"The owner is {found[0].data['owner']}.")


def ask(url: str, messages: list[dict[str, Any]]) -> httpx.Response:
    payload = {"model": "claude-sonnet-5", "max_tokens": 64, "tools": TOOLS, "messages": messages}
    return httpx.post(f"{url}/v1/messages", json=payload, headers={"x-api-key": "k"}, timeout=10)


def test_the_reply_is_worked_out_from_the_tool_result_in_the_request() -> None:
    with serve(Script(turns=(), responder=agent)) as server:
        first = ask(server.url, [{"role": "user", "content": "who owns it?"}]).json()
        use = next(b for b in first["content"] if b["type"] == "tool_use")
        history = [
            {"role": "user", "content": "who owns it?"},
            {"role": "assistant", "content": first["content"]},
        ]
        for owner in ("Sam", "Priya"):
            result = {"type": "tool_result", "tool_use_id": use["id"], "content": f'{{"owner": "{owner}"}}'}
            answer = ask(server.url, [*history, {"role": "user", "content": [result]}]).json()
            assert answer["content"][0]["text"] == f"The owner is {owner}."


def test_a_responder_with_nothing_more_to_say_is_a_clear_error() -> None:
    with serve(Script(turns=(), responder=lambda body: None, source="empty agent")) as server:
        got = ask(server.url, [{"role": "user", "content": "hi"}])
        assert got.status_code == 400 and "empty agent" in got.json()["error"]["message"]
