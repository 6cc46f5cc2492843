"""A blocking staged output on the cloud path: the step parks like a tool approval (WaitForDecision holds the task
token), the reviewer's approval through the output queue executes the call once on the control plane, the execution
resumes and the model gets the result as the tool result. moto runs the synthesized state machine; each step is our
handler in-process; the store is DynamoDB in moto."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

from sfn_world import World

from dexa.core.ports import ToolSpec
from dexa.core.tools import ToolContext, ToolOutput
from dexa.integrations.outputs.gate import _parked  # pyright: ignore[reportPrivateUsage]
from dexa.integrations.outputs.queue import OutputQueue
from dexa.runtime.output_delivery import attach_output_delivery
from dexa.testing.scripted import text, tool_use


class Sender:
    """The control plane's side of a send: counts how often it really happened."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    async def execute(self, output: Any, arguments: dict[str, Any]) -> dict[str, Any]:
        self.sent.append(arguments)
        return {"content": f"sent to {arguments['to']}", "is_error": False, "structured": {"id": "msg_1"}}


class StagingSend:
    """Stages its call in blocking mode, as the staging gate does for a policy-staged MCP write."""

    spec = ToolSpec(name="SendNotice", description="send a notice", input_schema={"type": "object"})
    read_only = False

    queue: OutputQueue  # set once the world's store exists

    async def run(self, tool_input: dict[str, Any], ctx: ToolContext) -> ToolOutput:
        output = await self.queue.stage(
            org_id=ctx.org_id,
            session_id=ctx.session_id,
            tool_use_id=ctx.tool_use_id,
            server="notices",
            tool="send",
            exposed_name="SendNotice",
            kind="mcp_call",
            arguments=tool_input,
            preview=f"send {tool_input}",
            target="notices",
            mode="blocking",
        )
        return _parked(output, "SendNotice")


def _poll(predicate: Callable[[], Any], timeout_s: float = 20.0) -> Any:
    import time

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError("condition not met")


def test_a_blocking_output_parks_the_execution_and_its_approval_resumes_it_with_the_result(
    world_factory: Callable[..., World],
) -> None:
    sender, send = Sender(), StagingSend()
    world = world_factory([tool_use("SendNotice", {"to": "ana@acme.example"}), text("sent it")], [send])
    queue = send.queue = OutputQueue(world.store, sender)
    runtime = SimpleNamespace(engine=world.engine, store=world.store, driver=world.driver, settings=None)
    attach_output_delivery(SimpleNamespace(queue=queue, extra={}), runtime)

    arn = asyncio.run(world.start())
    pending = _poll(lambda: [a for a in asyncio.run(world.store.list_approvals("ses_1")) if a.task_token])
    assert pending[0].kind == "output" and sender.sent == []
    assert world.sfn.describe_execution(executionArn=arn)["status"] == "RUNNING"
    [staged] = asyncio.run(queue.list("o", status="pending"))

    async def approve() -> dict[str, Any]:
        done = await queue.approve("o", staged["id"], by="alice")
        await world.driver.drain()  # what the API function's shim does before Lambda freezes it
        return done

    done = asyncio.run(approve())
    assert done["status"] == "executed"
    info = world.wait(arn)
    assert info["status"] == "SUCCEEDED", info
    assert sender.sent == [{"to": "ana@acme.example"}]
    session = asyncio.run(world.store.get_session("ses_1"))
    assert session.result == "sent it"
    last = world.model.calls[-1].messages[-1]
    result = last.content[0]
    assert "executed exactly once" in result.content and not result.is_error  # type: ignore[union-attr]
    names = [e["stateEnteredEventDetails"]["name"] for e in world.history(arn) if e["type"] == "TaskStateEntered"]
    assert "WaitForDecision" in names
