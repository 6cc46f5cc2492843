"""MCP tools inside the real turn engine: lazy loading changes the next request's tools, permission rules see
`mcp__<server>__<tool>` names, staged outputs are reported to the model, config problems become events."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from dexa.core.driver import InProcessDriver
from dexa.core.engine import TurnEngine
from dexa.core.environment import SessionEnv
from dexa.core.events import EventType
from dexa.core.ports import ModelRequest
from dexa.core.session import Session
from dexa.core.tools import ToolRegistry
from dexa.integrations.providers.demo import DemoCompany
from dexa.integrations.session_tools import build_integrations, mcp_tools_for_session
from dexa.integrations.vault import MemoryVault
from dexa.testing.fakes import DirWorkspace, RulePolicy, StaticEnvs
from dexa.testing.script import Turn
from dexa.testing.scripted import FunctionModel, last_tool_results, reply, text, tool_use

pytestmark = pytest.mark.anyio
ORG = "org_e"


def _agent(request: ModelRequest) -> Turn:
    step = sum(1 for m in request.messages if m.role == "assistant")
    if step == 0:
        return reply("Checking sources.", tool_use("ListSources"))
    if step == 1:
        return tool_use("LoadSourceTools", {"sources": ["email"]})
    if step == 2:
        return tool_use(
            "mcp__email__create_draft", {"to": ["ana.silva@acme.example"], "subject": "Pricing", "body": "Hi Ana"}
        )
    if step == 3:
        draft = json.loads(last_tool_results(request)[0].content)
        return tool_use("mcp__email__send_draft", {"draft_id": draft["id"]})
    return text("Staged the email for review.")


async def _run(tmp_path: Path, store, policy: RulePolicy) -> tuple[Session, FunctionModel, DemoCompany, object]:
    demo = DemoCompany(tmp_path / "demo.db")
    holder: dict[str, TurnEngine] = {}

    async def control_emit(session_id: str, type_: str, data) -> None:
        await holder["engine"].emit(session_id, type_, dict(data))

    integrations = build_integrations(store, MemoryVault(), emit=control_emit, demo=demo)
    await integrations.registry.add(ORG, {"provider": "demo"})
    (tmp_path / ".mcp.json").write_text('{"mcpServers": {"broken": {"url": "https://x.example/mcp"}}}')
    session = Session(id="ses_e", org_id=ORG, user_id="u", cwd=str(tmp_path), model="scripted", created_at=time.time())
    await store.create_session(session)

    async def emit(type_: str, data) -> None:
        await store.append_event(session.id, type_, dict(data))

    tools, manager = await mcp_tools_for_session(session, integrations=integrations, kv=store, emit=emit, env={})
    registry = ToolRegistry(tools)
    manager.attach(registry)
    model = FunctionModel(_agent)
    env = SessionEnv(model=model, tools=registry, policy=policy, workspace=DirWorkspace(tmp_path), can_prompt=False)
    engine = TurnEngine(store, StaticEnvs(env))
    holder["engine"] = engine
    try:
        await engine.submit(session.id, "Send Ana the pricing")
        done = await InProcessDriver(engine).run(session.id, wait_for_approvals=False)
    finally:
        await manager.aclose()
    return done, model, demo, integrations


async def test_a_turn_loads_sources_lazily_and_stages_the_send(tmp_path: Path, store) -> None:
    done, model, demo, integrations = await _run(tmp_path, store, RulePolicy())
    assert done.result == "Staged the email for review."
    first = {t.name for t in model.calls[0].tools}
    assert {"ListSources", "LoadSourceTools"} <= first and not any(n.startswith("mcp__email__") for n in first)
    assert "mcp__email__send_draft" in {t.name for t in model.calls[2].tools}
    sent = last_tool_results(model.calls[4])[0]
    assert sent.content.startswith("Staged as out_") and not sent.is_error
    assert demo.outbox() == []
    events = await store.read_events("ses_e", limit=1000)
    types = [e.type for e in events]
    assert EventType.OUTPUT_STAGED in types
    problems = [e.data for e in events if e.type == EventType.CONFIG_ERROR]
    assert problems and problems[0]["key"] == "mcpServers.broken" and "url_missing_type" in problems[0]["message"]
    (pending,) = await integrations.queue.list(ORG, session_id="ses_e")
    await integrations.queue.approve(ORG, pending["id"], by="reviewer")
    assert len(demo.outbox()) == 1
    later = [e.type for e in await store.read_events("ses_e", limit=1000)]
    assert EventType.OUTPUT_APPROVED in later and EventType.OUTPUT_EXECUTED in later


async def test_permission_rules_apply_to_mcp_tool_names(tmp_path: Path, store) -> None:
    _, model, demo, integrations = await _run(tmp_path, store, RulePolicy(deny={"mcp__email__send_draft"}))
    denied = last_tool_results(model.calls[4])[0]
    assert denied.is_error and "denied" in denied.content
    assert await integrations.queue.list(ORG) == [] and demo.outbox() == []
