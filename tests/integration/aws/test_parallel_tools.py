"""Read-only tools of one reply run as parallel Map items, and what each learned survives (issue 14 item 4)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sfn_world import World

from dexa.core.tools import ToolContext, ToolOutput
from dexa.testing.scripted import reply, text, tool_use
from dexa.tools.files import Edit, Read


class BarrierRead:
    """The real Read, but every run waits (bounded) until all `n` have started: all items load the session's tool
    state before any saves it, which is exactly when a last-writer-wins save loses the others' reads."""

    read_only = True

    def __init__(self, n: int) -> None:
        self.inner = Read()
        self.spec = self.inner.spec
        self.n = n
        self.started = 0
        self._lock = threading.Lock()

    async def run(self, tool_input: dict[str, Any], ctx: ToolContext) -> ToolOutput:
        with self._lock:
            self.started += 1
        deadline = time.monotonic() + 5.0
        while self.started < self.n and time.monotonic() < deadline:  # noqa: ASYNC110  (items run on other threads)
            await asyncio.sleep(0.01)
        return await self.inner.run(tool_input, ctx)


def test_parallel_reads_run_as_map_items_and_every_following_edit_finds_its_file_read(
    world_factory: Callable[..., World], tmp_path: Path
) -> None:
    names = ["a.txt", "b.txt", "c.txt"]
    for name in names:
        (tmp_path / name).write_text(f"old {name}\n")
    paths = [str(tmp_path / name) for name in names]
    read = BarrierRead(len(names))
    world = world_factory(
        [
            reply("Reading", *(tool_use("Read", {"file_path": p}) for p in paths)),
            reply(
                "Editing",
                *(tool_use("Edit", {"file_path": p, "old_string": "old", "new_string": "new"}) for p in paths),
            ),
            text("done"),
        ],
        [read, Edit()],
        chain=False,  # one step per task: the machine's own Map/RunTools path, task by task
    )
    info = world.wait(asyncio.run(world.start()), timeout_s=60)
    assert info["status"] == "SUCCEEDED", info

    history = world.history(info["executionArn"])
    entered = [e["stateEnteredEventDetails"]["name"] for e in history if "stateEnteredEventDetails" in e]
    # Each item ran its task and none fell through to the per-item Catch (a States.Runtime there is fatal on AWS).
    assert entered.count("RunTool") == 3 and "ToolLeftOver" not in entered
    assert not [e for e in history if e["type"] in ("TaskFailed", "MapIterationFailed")]
    assert read.started == 3

    edits = world.model.calls[2].messages[-1].tool_results
    assert [r.is_error for r in edits] == [False, False, False], [r.content for r in edits]
    assert [(tmp_path / n).read_text() for n in names] == [f"new {n}\n" for n in names]
    leftovers = asyncio.run(world.store.kv_list("tool_state_items", prefix=f"{world.session_id}:"))
    assert leftovers == []  # merged into the session's tool state, then dropped


def test_each_call_with_effects_gets_its_own_invocation_and_a_later_read_sees_the_edit(
    world_factory: Callable[..., World], tmp_path: Path
) -> None:
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("old a\n")
    b.write_text("old b\n")
    world = world_factory(
        [
            reply(
                "Working",
                tool_use("Read", {"file_path": str(a)}),
                tool_use("Read", {"file_path": str(b)}),
                tool_use("Edit", {"file_path": str(a), "old_string": "old", "new_string": "new"}),
                tool_use("Edit", {"file_path": str(b), "old_string": "old", "new_string": "new"}),
                tool_use("Read", {"file_path": str(a)}),
            ),
            text("done"),
        ],
        [BarrierRead(2), Edit()],
        chain=False,  # one step per task: the machine's own Map/RunTools path, task by task
    )
    info = world.wait(asyncio.run(world.start()), timeout_s=60)
    assert info["status"] == "SUCCEEDED", info
    history = world.history(info["executionArn"])
    entered = [e["stateEnteredEventDetails"]["name"] for e in history if "stateEnteredEventDetails" in e]
    assert entered.count("RunTool") == 2  # the two leading Reads, side by side
    assert entered.count("RunTools") == 3  # Edit a, Edit b, then the last Read with the results
    results = world.model.calls[1].messages[-1].tool_results
    assert [r.is_error for r in results] == [False] * 5, [r.content for r in results]
    assert "new a" in results[4].content  # asked for after the Edit, so it ran after it
    assert a.read_text() == "new a\n" and b.read_text() == "new b\n"
