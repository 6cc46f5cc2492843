"""The integration registry: catalogue, org scoping, secrets in the vault only, allowlisted custom servers,
and status with token health. (The OAuth connection of a remote MCP server: test_remote_mcp_oauth.py.)"""

from __future__ import annotations

import json

import pytest

from dexa.core.errors import ConfigError, ConflictError, NotFoundError, PermissionDeniedError
from dexa.integrations.registry import IntegrationRegistry

pytestmark = pytest.mark.anyio


async def test_add_list_status_remove_are_scoped_to_the_org(store, vault) -> None:
    registry = IntegrationRegistry(store, vault)
    zendesk = await registry.add(
        "org_a",
        {
            "provider": "zendesk",
            "api_key": "zd-secret-token",
            "config": {"subdomain": "acme", "email": "a@acme.example"},
        },
    )
    assert zendesk["status"] == "connected" and zendesk["name"] == "tickets" and "secret" not in json.dumps(zendesk)
    gmail = await registry.add("org_a", {"provider": "gmail"})
    assert gmail["status"] == "needs_auth"
    assert [r["provider"] for r in await registry.list("org_a")] == ["zendesk", "gmail"]
    assert await registry.list("org_b") == []
    with pytest.raises(NotFoundError):
        await registry.status("org_b", zendesk["id"])
    status = await registry.status("org_a", zendesk["id"], probe=True)
    assert status["health"]["ok"] and status["auth"] == "api_key"
    stored = await store.kv_get("integrations", zendesk["id"], org_id="org_a")
    assert "zd-secret-token" not in json.dumps(stored)
    assert await registry.secret("org_a", zendesk["id"], "api_key") == "zd-secret-token"
    await registry.remove("org_a", zendesk["id"])
    assert await vault.keys() == [] and [r["provider"] for r in await registry.list("org_a")] == ["gmail"]
    with pytest.raises(NotFoundError):
        await registry.remove("org_a", zendesk["id"])


async def test_bad_specs_are_refused_with_the_reason(store, vault) -> None:
    registry = IntegrationRegistry(store, vault)
    with pytest.raises(ConfigError, match="unknown provider"):
        await registry.add("o", {"provider": "myspace"})
    with pytest.raises(ConfigError, match="subdomain"):
        await registry.add("o", {"provider": "zendesk", "api_key": "k"})
    with pytest.raises(ConfigError, match="zendesk needs config email"):
        await registry.add("o", {"provider": "zendesk", "api_key": "k", "config": {"subdomain": "acme"}})
    with pytest.raises(ConfigError, match="name"):
        await registry.add("o", {"provider": "slack", "name": "bad name!"})
    await registry.add("o", {"provider": "slack"})
    with pytest.raises(ConflictError, match="chat"):
        await registry.add("o", {"provider": "slack"})


async def test_custom_servers_must_be_on_the_org_allowlist(store, vault) -> None:
    registry = IntegrationRegistry(store, vault)
    with pytest.raises(PermissionDeniedError, match="allowlist"):
        await registry.add("o", {"provider": "custom_mcp", "name": "wiki", "url": "https://mcp.evil.example/mcp"})
    await registry.set_allowlist("o", ["https://*.corp.example/*"])
    added = await registry.add(
        "o",
        {
            "provider": "custom_mcp",
            "name": "wiki",
            "url": "https://mcp.corp.example/mcp",
            "headers": {"X-Api-Key": "hdr-secret"},
        },
    )
    assert added["mode"] == "remote" and added["status"] == "connected"
    assert "hdr-secret" not in json.dumps(await store.kv_list("integrations", org_id="o"))


async def test_unconnected_sources_say_how_to_connect(store, vault) -> None:
    registry = IntegrationRegistry(store, vault)
    await registry.add("o", {"provider": "hubspot"})
    missing = {m["name"]: m for m in await registry.unconnected("o")}
    assert "hubspot" not in missing and "dexa integrations add gmail" in missing["gmail"]["connect"]
