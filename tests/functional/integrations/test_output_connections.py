"""The connection definition kept with a staged output: enough to reconnect, never a secret in clear."""

from __future__ import annotations

import json

import pytest

from dexa.adapters.mcp.config import ServerConfig
from dexa.core.errors import ToolInputError
from dexa.integrations.outputs import connections
from dexa.integrations.outputs.connections import ReconnectingRoute
from dexa.integrations.outputs.executor import RoutingExecutor
from dexa.integrations.outputs.queue import OutputQueue
from dexa.integrations.vault import MemoryVault

pytestmark = pytest.mark.anyio
ORG = "org_c"

SERVER = ServerConfig(
    name="tickets",
    transport="http",
    scope="project",
    url="https://tickets.example/mcp",
    headers={"Authorization": "Bearer tok-very-secret"},
    env={},
)
STDIO = ServerConfig(
    name="crm", transport="stdio", scope="project", command="crm-mcp", args=("--db", "x"), env={"CRM_KEY": "k-secret"}
)


async def _stage(queue: OutputQueue, server: ServerConfig, tool_use_id: str = "tu_1") -> dict:
    out = await queue.stage(
        org_id=ORG,
        session_id="ses_c",
        tool_use_id=tool_use_id,
        server=server.name,
        tool="create",
        exposed_name=f"mcp__{server.name}__create",
        kind="mcp_call",
        arguments={"title": "x"},
        preview="create x",
        connection=server,
    )
    return out.to_dict()


async def test_credentials_go_to_the_vault_and_only_their_names_stay_with_the_output(store) -> None:
    vault = MemoryVault()
    queue = OutputQueue(store, RoutingExecutor(), vault=vault)
    staged = await _stage(queue, SERVER)
    doc = await store.kv_get("outputs", staged["id"], org_id=ORG)
    assert "tok-very-secret" not in json.dumps(doc)
    assert doc["connection"]["header_keys"] == ["Authorization"] and doc["connection"]["url"] == SERVER.url
    restored = await connections.load(vault, queue_output(doc))
    assert restored.headers == SERVER.headers and restored.url == SERVER.url and restored.transport == "http"
    stdio = await _stage(queue, STDIO, "tu_2")
    assert "k-secret" not in json.dumps(await store.kv_get("outputs", stdio["id"], org_id=ORG))
    assert (await connections.load(vault, queue_output(stdio))).env == {"CRM_KEY": "k-secret"}


async def test_without_a_vault_a_server_with_credentials_is_not_staged(store) -> None:
    queue = OutputQueue(store, RoutingExecutor())
    with pytest.raises(ToolInputError, match="in clear"):
        await _stage(queue, STDIO)


async def test_a_stdio_output_is_refused_rather_than_run_outside_a_sandbox(store) -> None:
    vault = MemoryVault()
    route = ReconnectingRoute(vault)  # no launcher: this control plane has no workspace sandbox
    executor = RoutingExecutor()
    executor.add_fallback(route.resolver)
    queue = OutputQueue(store, executor, vault=vault)
    staged = await _stage(queue, STDIO)
    done = await queue.approve(ORG, staged["id"], by="rev")
    assert done["status"] == "failed" and "workspace sandbox" in done["error"]
    assert await vault.get(connections.vault_key(ORG, staged["id"])) is None, "a decided output's secrets are dropped"


def queue_output(doc: dict):  # the stored document as the executor sees it
    from dexa.integrations.outputs.models import PendingOutput

    return PendingOutput.from_dict(doc)
