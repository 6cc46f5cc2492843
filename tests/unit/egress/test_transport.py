"""The httpx egress transport: policy and address checks at connect time, connecting to the checked address."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from dexa.core.errors import EgressDeniedError
from dexa.egress.policy import NetworkPolicy
from dexa.egress.transport import egress_transport
from dexa.testing.netdoubles import OPEN_ONE_LOOPBACK, TARGET_IP, RecordingServer, table_resolver

pytestmark = pytest.mark.anyio


@pytest.fixture
async def target() -> AsyncIterator[RecordingServer]:
    server = await RecordingServer(TARGET_IP).start()
    yield server
    await server.aclose()


def _client(policy: NetworkPolicy, table: dict[str, list[str]]) -> tuple[httpx.AsyncClient, list[str]]:
    resolver, asked = table_resolver(table)
    transport = egress_transport(policy, resolver=resolver, blocked_networks=OPEN_ONE_LOOPBACK)
    return httpx.AsyncClient(transport=transport, trust_env=False), asked


async def test_an_allowed_name_is_fetched_from_its_checked_address_with_its_own_host(target: RecordingServer) -> None:
    client, asked = _client(NetworkPolicy.from_level("custom", ["allowed.test"]), {"allowed.test": [TARGET_IP]})
    async with client:
        response = await client.get(f"http://allowed.test:{target.port}/x")
    assert response.text == "hello from 127.0.0.2" and asked == ["allowed.test"]
    assert f"host: allowed.test:{target.port}" in target.requests[0].decode().lower()


@pytest.mark.parametrize(
    ("policy", "host", "code"),
    [
        (NetworkPolicy.from_level("custom", ["allowed.test"]), "other.test", "egress_denied"),
        (NetworkPolicy(), "allowed.test", "egress_denied"),
        (NetworkPolicy.from_level("full"), "loop.test", "egress_blocked_address"),
        (NetworkPolicy.from_level("full"), "127.0.0.1", "egress_blocked_address"),
        (NetworkPolicy.from_level("full"), "mixed.test", "egress_blocked_address"),
        (NetworkPolicy.from_level("full"), "nowhere.test", "egress_unresolved"),
    ],
)
async def test_refused_destinations_raise_egress_denied_before_any_connection(
    target: RecordingServer, policy: NetworkPolicy, host: str, code: str
) -> None:
    table = {
        "allowed.test": [TARGET_IP],
        "other.test": [TARGET_IP],
        "loop.test": ["127.0.0.1"],
        "mixed.test": [TARGET_IP, "::ffff:127.0.0.1"],
    }
    client, _ = _client(policy, table)
    async with client:
        with pytest.raises(EgressDeniedError) as caught:
            await client.get(f"http://{host}:{target.port}/")
    assert caught.value.code == code
    assert target.connections == 0
