"""A demo org wired like production: managed servers over the demo company, the staging gate, the queue."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dexa.adapters.mcp.manager import McpManager
from dexa.adapters.sqlite import SqliteStore
from dexa.core.session import Session
from dexa.core.tools import SessionState, ToolContext, ToolOutput, ToolRegistry
from dexa.integrations.providers.demo import DemoCompany
from dexa.integrations.session_tools import Integrations, build_integrations, mcp_tools_for_session
from dexa.integrations.vault import MemoryVault
from dexa.testing.fakes import DirWorkspace

ORG = "org_demo"


@dataclass
class Org:
    store: SqliteStore
    demo: DemoCompany
    integrations: Integrations
    manager: McpManager
    registry: ToolRegistry
    session: Session
    tmp: Path
    events: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    n: int = 0

    def ctx(self) -> ToolContext:
        self.n += 1

        async def emit(type_: str, data: Any) -> None:
            self.events.append((self.session.id, type_, dict(data)))

        return ToolContext(
            session_id=self.session.id,
            org_id=ORG,
            tool_use_id=f"tu_{self.n}",
            workspace=DirWorkspace(self.tmp),
            state=SessionState(cwd=str(self.tmp)),
            emit=emit,
            kv=self.store,
        )

    async def call(self, name: str, args: dict[str, Any]) -> ToolOutput:
        tool = self.registry.get(name)
        assert tool is not None, f"{name} not loaded; have {self.registry.names()}"
        return await tool.run(args, self.ctx())

    async def draft(self, to: str = "ana.silva@acme.example", subject: str = "Pricing") -> str:
        out = await self.call("mcp__email__create_draft", {"to": [to], "subject": subject, "body": "Hi"})
        assert not out.is_error, out.content
        return json.loads(out.content)["id"]

    def types(self) -> list[str]:
        return [t for _, t, _ in self.events]

    async def aclose(self) -> None:
        await self.manager.aclose()
        self.demo.close()


async def demo_org(
    tmp: Path,
    store: SqliteStore,
    *,
    sources: tuple[str, ...] = ("calendar", "email", "crm", "chat", "tickets", "meetings"),
) -> Org:
    events: list[tuple[str, str, dict[str, Any]]] = []

    async def control_emit(session_id: str, type_: str, data: Any) -> None:
        events.append((session_id, type_, dict(data)))

    demo = DemoCompany(tmp / "demo.db")
    integrations = build_integrations(
        store, MemoryVault(), emit=control_emit, demo=demo, link_secret=b"k" * 32, base_url="https://dexa.test"
    )
    await integrations.registry.add(ORG, {"provider": "demo"})
    session = Session(id="ses_1", org_id=ORG, user_id="u", cwd=str(tmp), model="scripted")
    await store.create_session(session)
    tools, manager = await mcp_tools_for_session(session, integrations=integrations, kv=store, env={})
    registry = ToolRegistry(tools)
    manager.attach(registry)
    await manager.load_sources(list(sources))
    return Org(
        store=store,
        demo=demo,
        integrations=integrations,
        manager=manager,
        registry=registry,
        session=session,
        tmp=tmp,
        events=events,
    )
