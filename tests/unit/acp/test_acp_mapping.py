"""What an editor sends becomes a Dexa prompt, and what Dexa logs becomes ACP updates: the edges the end-to-end
tests in tests/integration/acp do not reach."""

from __future__ import annotations

from pathlib import Path

import pytest
from acp.schema import (
    AllowedOutcome,
    BlobResourceContents,
    DeniedOutcome,
    EmbeddedResourceContentBlock,
    ImageContentBlock,
    RequestPermissionResponse,
    ResourceContentBlock,
    TextContentBlock,
)

from dexa.acp.mapping import LINK_LIMIT, EventMapper, prompt_text
from dexa.acp.permissions import choice_of, options_for
from dexa.acp.transport import problem
from dexa.core.errors import ConfigError
from dexa.core.events import Event, EventType


def _link(path: Path) -> ResourceContentBlock:
    return ResourceContentBlock(type="resource_link", name=path.name, uri=f"file://{path}")


def test_a_linked_file_is_inlined_only_inside_the_workspace_and_when_small(tmp_path: Path) -> None:
    ws, outside = tmp_path / "ws", tmp_path / "secret.txt"
    ws.mkdir()
    (ws / "a.txt").write_text("inside")
    (ws / "big.txt").write_text("x" * (LINK_LIMIT + 1))
    outside.write_text("do not read")
    text = prompt_text(
        [TextContentBlock(type="text", text="see"), _link(ws / "a.txt"), _link(outside), _link(ws / "big.txt")],
        roots=[str(ws)],
    )
    assert text.startswith(f"see @{ws / 'a.txt'} @{outside} @{ws / 'big.txt'}")
    assert "inside" in text and "do not read" not in text and "xxxx" not in text


def test_images_and_binary_resources_are_refused_by_name() -> None:
    image = ImageContentBlock(type="image", data="aGk=", mime_type="image/png")
    with pytest.raises(ConfigError, match="image content is not supported"):
        prompt_text([image], roots=["/"])
    blob = EmbeddedResourceContentBlock(
        type="resource", resource=BlobResourceContents(uri="file:///x.bin", blob="aGk=")
    )
    with pytest.raises(ConfigError, match=r"file:///x.bin is binary"):
        prompt_text([blob], roots=["/"])


def _ev(seq: int, type_: str, **data: object) -> Event:
    return Event(session_id="s", seq=seq, type=type_, data=dict(data))


def test_a_message_is_sent_whole_only_when_no_delta_carried_it() -> None:
    mapper = EventMapper()
    streamed = {"id": "t1a0", "role": "assistant", "content": [{"type": "text", "text": "hi"}]}
    whole = {"id": "t1a1", "role": "assistant", "content": [{"type": "text", "text": "whole"}]}
    updates = [
        *mapper.updates(_ev(1, EventType.TEXT_DELTA, message_id="t1a0", text="hi")),
        *mapper.updates(_ev(2, EventType.MESSAGE_ASSISTANT, message=streamed)),
        *mapper.updates(_ev(3, EventType.MESSAGE_ASSISTANT, message=whole)),
    ]
    assert [u.content.text for u in updates] == ["hi", "whole"]


def test_multi_edit_becomes_one_diff_per_edit() -> None:
    edits = [{"old_string": "a", "new_string": "b"}, {"old_string": "c", "new_string": "d"}]
    (start,) = EventMapper().updates(
        _ev(1, EventType.TOOL_REQUESTED, tool_use_id="t", name="MultiEdit", input={"file_path": "/w/f", "edits": edits})
    )
    assert [(d.old_text, d.new_text) for d in start.content] == [("a", "b"), ("c", "d")]
    assert start.kind == "edit" and start.locations[0].path == "/w/f"


def test_permission_answers() -> None:
    assert [o.option_id for o in options_for({"tool_name": "Bash", "options": ["once", "always", "deny"]})] == [
        "allow_once",
        "allow_always",
        "reject_once",
    ]
    assert [o.option_id for o in options_for({"tool_name": "send_email", "options": ["once", "deny"]})] == [
        "allow_once",
        "reject_once",
    ]
    picked = choice_of(RequestPermissionResponse(outcome=AllowedOutcome(outcome="selected", option_id="plan_default")))
    assert (picked.decision, picked.mode_after) == ("once", "default")
    cancelled = choice_of(RequestPermissionResponse(outcome=DeniedOutcome(outcome="cancelled")))
    assert cancelled.decision == "deny" and cancelled.cancelled
    unknown = choice_of(RequestPermissionResponse(outcome=AllowedOutcome(outcome="selected", option_id="made_up")))
    assert unknown.decision == "deny"


def test_json_rpc_shape_checks() -> None:
    assert problem({"jsonrpc": "2.0", "id": 1, "method": "initialize"}) is None
    assert problem({"jsonrpc": "2.0", "id": 1, "result": {}}) is None
    assert "params" in problem({"jsonrpc": "2.0", "id": 1, "method": "x", "params": 3})["error"]["message"]
    assert 'no "method"' in problem({"jsonrpc": "2.0", "id": 1})["error"]["message"]
