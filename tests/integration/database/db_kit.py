"""An org wired like production around one database integration: the registry and vault, the managed server
behind the staging gate, the review queue. Tools are called as the engine calls them."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dexa.adapters.mcp.manager import McpManager
from dexa.adapters.sqlite import SqliteStore
from dexa.core.session import Session
from dexa.core.tools import SessionState, ToolContext, ToolOutput, ToolRegistry
from dexa.integrations.session_tools import Integrations, build_integrations, mcp_tools_for_session
from dexa.integrations.vault import SecretVault
from dexa.testing.fakes import DirWorkspace

ORG = "org_db"
PASSWORD = "s3cret-Pa55word-xyz"
USER = "dexa_owner"


@dataclass(frozen=True)
class Postgres:
    host: str
    port: int
    database: str

    def url(self, *, password: str = PASSWORD, port: int | None = None) -> str:
        return f"postgresql://{USER}:{password}@{self.host}:{port or self.port}/{self.database}"


SEED = [
    "CREATE TABLE customers (id integer PRIMARY KEY, name text NOT NULL, email text UNIQUE, plan text)",
    "CREATE TABLE orders (id integer PRIMARY KEY, customer_id integer REFERENCES customers(id), "
    "amount numeric(10,2), status text)",
    "INSERT INTO customers VALUES (1, 'Ana Silva', 'ana@acme.example', 'pro'), "
    "(2, 'Bo Chen', 'bo@globex.example', 'free'), (3, 'Cy Okafor', 'cy@initech.example', 'free')",
    "INSERT INTO orders VALUES (10, 1, 120.50, 'paid'), (11, 2, 15.00, 'open'), (12, 3, 99.99, 'open')",
]


def pg_database(url: str) -> str:
    """A fresh, seeded database on the test server; returns its URL."""
    import psycopg

    name = "t_" + secrets.token_hex(4)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")  # type: ignore[arg-type]
    db_url = url.rsplit("/", 1)[0] + "/" + name
    with psycopg.connect(db_url, autocommit=True) as conn:
        for statement in [*SEED, "CREATE SEQUENCE invoice_no"]:
            conn.execute(statement)  # type: ignore[arg-type]
        conn.execute("ANALYZE")
    return db_url


def pg_rows(url: str, sql: str) -> list[tuple[Any, ...]]:
    import psycopg

    with psycopg.connect(url) as conn:
        return conn.execute(sql).fetchall()  # type: ignore[arg-type]


def pg_exec(url: str, sql: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql)  # type: ignore[arg-type]


def sqlite_database(path: Path) -> Path:
    import sqlite3

    conn = sqlite3.connect(path)
    for statement in SEED:
        conn.execute(statement.replace("numeric(10,2)", "real"))
    conn.commit()
    conn.close()
    return path


@dataclass
class Org:
    store: SqliteStore
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

    async def call(self, tool: str, args: dict[str, Any], server: str = "database") -> ToolOutput:
        name = f"mcp__{server}__{tool}"
        found = self.registry.get(name)
        assert found is not None, f"{name} not loaded; have {self.registry.names()}"
        return await found.run(args, self.ctx())

    async def ok(self, tool: str, args: dict[str, Any]) -> dict[str, Any]:
        out = await self.call(tool, args)
        assert not out.is_error, out.content
        return json.loads(out.content)

    def transcript(self) -> str:
        return json.dumps(self.events, default=str)

    async def aclose(self) -> None:
        await self.manager.aclose()


async def wire_org(
    tmp: Path, store: SqliteStore, vault: SecretVault, *, provider: str, connection_string: str
) -> tuple[Org, dict[str, Any]]:
    events: list[tuple[str, str, dict[str, Any]]] = []

    async def control_emit(session_id: str, type_: str, data: Any) -> None:
        events.append((session_id, type_, dict(data)))

    integrations = build_integrations(store, vault, emit=control_emit)
    record = await integrations.registry.add(ORG, {"provider": provider, "connection_string": connection_string})
    session = Session(id="ses_db", org_id=ORG, user_id="u", cwd=str(tmp), model="scripted")
    await store.create_session(session)
    tools, manager = await mcp_tools_for_session(session, integrations=integrations, kv=store, env={})
    registry = ToolRegistry(tools)
    manager.attach(registry)
    await manager.load_sources([record["name"]])
    org = Org(store=store, integrations=integrations, manager=manager, registry=registry, session=session, tmp=tmp)
    org.events = events
    return org, record
