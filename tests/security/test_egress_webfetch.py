"""WebFetch on the control plane (issue 13): it resolves once, connects to that address, and obeys the policy.

A DNS-rebinding name first answers a "public" address (127.0.0.2, opened on purpose) and then 127.0.0.1, where a
listener stands for the control plane on the same port. The old WebFetch checked the first answer and let httpx
resolve again; now the listener must see zero connections.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from dexa.adapters.local_sandbox import LocalSandbox
from dexa.core.tools import ToolContext
from dexa.egress.policy import NetworkPolicy
from dexa.testing.fakes import tool_context
from dexa.testing.netdoubles import OPEN_ONE_LOOPBACK, TARGET_IP, RecordingServer, rebinding_resolver, table_resolver
from dexa.tools.web import POLICY_SERVICE, WebFetch

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def ctx(tmp_path: Path) -> ToolContext:
    root = tmp_path / "ws"
    root.mkdir()
    events: list[tuple[str, dict[str, Any]]] = []
    base = tool_context(LocalSandbox(str(root), state_dir=str(tmp_path / "state")), str(root), events)
    return dataclasses.replace(base, network=True)


@pytest.mark.parametrize("scheme", ["https", "http"])
async def test_a_rebinding_name_cannot_reach_loopback_through_webfetch(ctx: ToolContext, scheme: str) -> None:
    public = await RecordingServer(TARGET_IP, silent=True).start()
    control = await RecordingServer("127.0.0.1").start(public.port)
    resolver, asked = rebinding_resolver(TARGET_IP, "127.0.0.1")
    tool = WebFetch(resolver=resolver, blocked_networks=OPEN_ONE_LOOPBACK, timeout_s=0.5)
    try:
        out = await tool.run({"url": f"{scheme}://rebind.test:{public.port}/", "prompt": "x"}, ctx)
    finally:
        await public.aclose()
        await control.aclose()
    assert asked == ["rebind.test"]  # one resolution, used for the check and the connection
    assert public.connections == 1  # the connection went to the address that was checked
    assert control.connections == 0
    assert out.is_error  # the stand-in "public" server answers nothing


async def test_webfetch_obeys_the_session_policy_and_its_cache_does_not_leak_across_policies(
    ctx: ToolContext,
) -> None:
    target = await RecordingServer(TARGET_IP).start()
    resolver, _ = table_resolver({"allowed.test": [TARGET_IP], "other.test": [TARGET_IP]})
    tool = WebFetch(resolver=resolver, blocked_networks=OPEN_ONE_LOOPBACK, timeout_s=2)
    allowed = NetworkPolicy.from_level("custom", ["allowed.test"])
    narrow = dataclasses.replace(ctx, allow_private_network=True, services={POLICY_SERVICE: allowed})
    try:
        # allow_private_network keeps http as http so the plain-text target can answer.
        ok = await tool.run({"url": f"http://allowed.test:{target.port}/", "prompt": "x"}, narrow)
        denied = await tool.run({"url": f"http://other.test:{target.port}/", "prompt": "x"}, narrow)
        off = dataclasses.replace(narrow, services={POLICY_SERVICE: NetworkPolicy()})
        cached = await tool.run({"url": f"http://allowed.test:{target.port}/", "prompt": "x"}, off)
    finally:
        await target.aclose()
    assert not ok.is_error and "hello from 127.0.0.2" in ok.content
    assert denied.is_error and "other.test is not in this session's network policy (level custom)" in denied.content
    assert cached.is_error and "no network access" in cached.content
    assert target.connections == 1
