"""ScriptedModel / FunctionModel: the in-process model double."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from dexa.core.errors import ConfigError, ModelUnavailableError
from dexa.core.messages import Message, ServerToolBlock, ThinkingBlock, ToolResultBlock, user_text
from dexa.core.ports import ModelRequest, StreamDelta
from dexa.testing import FunctionModel, ScriptedModel, UnexpectedModelCall, reply, text, thinking, tool_use
from dexa.testing.scripted import last_tool_results

pytestmark = pytest.mark.anyio


def req(*messages: Message, response_id: str = "") -> ModelRequest:
    return ModelRequest(model="", system="sys", messages=messages, response_id=response_id)


def write_script(tmp_path: Path, script: dict[str, Any]) -> Path:
    path = tmp_path / "script.json"
    path.write_text(json.dumps(script))
    return path


async def test_steps_replay_in_order_and_every_request_is_recorded() -> None:
    model = ScriptedModel([tool_use("Bash", {"command": "rm -rf /"}), text("done")])
    first = await model.complete(req(user_text("u1", "clean up"), response_id="a1"))
    [use] = first.message.tool_uses
    assert (use.name, use.input) == ("Bash", {"command": "rm -rf /"})
    assert first.message.id == "a1" and first.message.stop_reason == "tool_use"
    denial = Message(
        id="u2", role="user", content=(ToolResultBlock(tool_use_id=use.id, content="denied", is_error=True),)
    )
    second = await model.complete(req(user_text("u1", "clean up"), first.message, denial))
    assert second.message.text == "done" and second.message.stop_reason == "end_turn"
    assert len(model.calls) == 2
    assert last_tool_results(model.calls[1])[0].content == "denied"
    model.assert_complete()


async def test_one_step_may_hold_text_and_several_tool_uses() -> None:
    model = ScriptedModel(
        [reply("Reading both.", tool_use("Read", {"file_path": "/a"}), tool_use("Read", {"file_path": "/b"}))]
    )
    response = await model.complete(req(user_text("u1", "go")))
    assert response.message.text == "Reading both."
    assert [u.input["file_path"] for u in response.message.tool_uses] == ["/a", "/b"]
    assert len({u.id for u in response.message.tool_uses}) == 2


async def test_exhausted_script_raises_unexpected_model_call_and_fails_assert_complete() -> None:
    model = ScriptedModel(["only"])
    await model.complete(req(user_text("u1", "x")))
    with pytest.raises(UnexpectedModelCall, match="unexpected model call #2"):
        await model.complete(req(user_text("u1", "x")))
    with pytest.raises(AssertionError, match="unexpected"):
        model.assert_complete()


async def test_assert_complete_fails_while_steps_remain() -> None:
    model = ScriptedModel([text("a"), text("b")])
    await model.complete(req(user_text("u1", "x")))
    with pytest.raises(AssertionError, match="1 of 2 step"):
        model.assert_complete()


async def test_exception_step_is_raised() -> None:
    model = ScriptedModel([ModelUnavailableError("overloaded", status=529), text("after")])
    with pytest.raises(ModelUnavailableError):
        await model.complete(req(user_text("u1", "x")))
    assert (await model.complete(req(user_text("u1", "x")))).message.text == "after"


async def test_text_streams_in_chunks_and_thinking_is_signed() -> None:
    deltas: list[StreamDelta] = []

    async def sink(delta: StreamDelta) -> None:
        deltas.append(delta)

    model = ScriptedModel([thinking("plan it") + text("one two three four five six")])
    response = await model.complete(req(user_text("u1", "x")), sink)
    texts = [d.text for d in deltas if d.kind == "text"]
    assert len(texts) == 3 and "".join(texts) == "one two three four five six"
    assert deltas[0].kind == "thinking"
    block = response.message.content[0]
    assert isinstance(block, ThinkingBlock) and block.signature
    assert (
        response.usage.input_tokens >= 1
        and response.usage.output_tokens == len("plan itone two three four five six") // 4
    )


async def test_function_model_replies_from_the_request() -> None:
    model = FunctionModel(lambda request: text(f"saw {len(request.messages)} message(s)"))
    response = await model.complete(req(user_text("u1", "a"), user_text("u2", "b")))
    assert response.message.text == "saw 2 message(s)"
    assert len(model.calls) == 1


async def test_async_function_model_may_raise_through_a_returned_exception() -> None:
    async def fn(request: ModelRequest) -> Any:
        return ModelUnavailableError("nope")

    with pytest.raises(ModelUnavailableError):
        await FunctionModel(fn).complete(req(user_text("u1", "a")))


async def test_file_mode_is_stateless_so_a_restarted_process_continues(tmp_path: Path) -> None:
    path = write_script(
        tmp_path,
        {
            "turns": [
                {"text": "Looking.", "tool_uses": [{"name": "Bash", "input": {"command": "ls"}}]},
                {"text": "Finished."},
            ]
        },
    )
    before_crash = ScriptedModel.from_file(path)
    first = await before_crash.complete(req(user_text("u1", "list"), response_id="msg_1"))
    [use] = first.message.tool_uses
    result = Message(id="u2", role="user", content=(ToolResultBlock(tool_use_id=use.id, content="a.txt"),))

    after_restart = ScriptedModel.from_file(path)
    replayed = await after_restart.complete(req(user_text("u1", "list"), response_id="msg_1"))
    assert replayed.message == first.message
    second = await after_restart.complete(req(user_text("u1", "list"), first.message, result))
    assert second.message.text == "Finished."
    with pytest.raises(UnexpectedModelCall):
        await after_restart.complete(
            req(user_text("u1", "list"), first.message, result, second.message, user_text("u3", "more"))
        )


async def test_file_mode_tool_ids_derive_from_the_response_id(tmp_path: Path) -> None:
    path = write_script(tmp_path, {"turns": [{"tool_uses": [{"name": "A"}, {"name": "B", "id": "toolu_fixed"}]}]})
    model = ScriptedModel.from_file(path)
    one = await model.complete(req(user_text("u1", "x"), response_id="r1"))
    two = await model.complete(req(user_text("u1", "x"), response_id="r2"))
    assert one.message.tool_uses[0].id != two.message.tool_uses[0].id
    assert one.message.tool_uses[0].id.startswith("toolu_")
    assert one.message.tool_uses[1].id == "toolu_fixed"


async def test_file_mode_errors_are_served_the_given_number_of_times(tmp_path: Path) -> None:
    path = write_script(tmp_path, {"turns": [{"error": {"status": 529, "times": 2}}, {"text": "ok"}]})
    model = ScriptedModel.from_file(path)
    for _ in range(2):
        with pytest.raises(ModelUnavailableError, match="529"):
            await model.complete(req(user_text("u1", "x")))
    assert (await model.complete(req(user_text("u1", "x")))).message.text == "ok"


async def test_delay_ms_slows_the_stream(tmp_path: Path) -> None:
    path = write_script(tmp_path, {"turns": [{"text": "a b c", "delay_ms": 30}]})
    started = time.monotonic()
    await ScriptedModel.from_file(path).complete(req(user_text("u1", "x")))
    assert time.monotonic() - started >= 0.09


async def test_server_blocks_come_back_as_server_tool_blocks(tmp_path: Path) -> None:
    raw = {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {"query": "q"}}
    path = write_script(tmp_path, {"turns": [{"server_blocks": [raw], "text": "answer"}]})
    response = await ScriptedModel.from_file(path).complete(req(user_text("u1", "x")))
    assert response.message.content[0] == ServerToolBlock(raw=raw)


@pytest.mark.parametrize(
    ("script", "complaint"),
    [
        ({"steps": []}, "'turns' list"),
        ({"turns": [{"txt": "typo"}]}, r"turns\[0\]: unknown field\(s\) txt"),
        ({"turns": [{"tool_uses": [{"input": {}}]}]}, r"turns\[0\].tool_uses\[0\]"),
        ({"turns": [{"error": {"status": "529"}}]}, r"turns\[0\].error"),
        ({"turns": [{"text": "x", "delay_ms": -1}]}, r"turns\[0\].delay_ms"),
    ],
)
def test_bad_script_files_name_the_file_and_field(tmp_path: Path, script: dict[str, Any], complaint: str) -> None:
    path = write_script(tmp_path, script)
    with pytest.raises(ConfigError, match=complaint) as info:
        ScriptedModel.from_file(path)
    assert str(path) in str(info.value)


def test_invalid_json_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text("{nope")
    with pytest.raises(ConfigError, match=r"broken\.json: invalid JSON"):
        ScriptedModel.from_file(path)
