"""Attacks on the sandbox's way out (issue 13 item 5): the egress proxy must never reach the control plane.

Each test starts a real listener that stands for a control-plane port on 127.0.0.1 and asserts the attack got a
refusal and the listener recorded zero connections.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator

import pytest

from dexa.egress.addresses import DEFAULT_BLOCKED_NETWORKS, system_resolver
from dexa.egress.policy import NetworkPolicy
from dexa.egress.proxy import EgressProxy, EgressRecord, ProxyLimits
from dexa.testing.netdoubles import (
    OPEN_ONE_LOOPBACK,
    TARGET_IP,
    RecordingServer,
    proxy_exchange,
    rebinding_resolver,
    table_resolver,
)

pytestmark = pytest.mark.anyio
FULL = NetworkPolicy.from_level("full")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def sock() -> Iterator[str]:
    path = tempfile.mkdtemp(prefix="egress-", dir="/tmp")
    yield os.path.join(path, "egress.sock")
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
async def control_plane() -> AsyncIterator[RecordingServer]:
    server = await RecordingServer("127.0.0.1").start()
    yield server
    await server.aclose()


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "localhost", "[::ffff:127.0.0.1]", "0.0.0.0", "127.1", "internal.test", "[::1]"]
)
async def test_connect_to_a_control_plane_port_is_refused_at_level_full(
    sock: str, control_plane: RecordingServer, host: str
) -> None:
    async def resolver(name: str, port: int) -> list[str]:
        return ["127.0.0.1"] if name == "internal.test" else await system_resolver(name, port)

    async with EgressProxy(FULL, resolver=resolver) as proxy:
        await proxy.start(sock)
        reply = await proxy_exchange(
            sock, f"CONNECT {host}:{control_plane.port} HTTP/1.1\r\n\r\n".encode(), b"GET / HTTP/1.1\r\n\r\n"
        )
        plain = await proxy_exchange(sock, f"GET http://{host}:{control_plane.port}/ HTTP/1.1\r\n\r\n".encode())
    for answer in (reply, plain):
        assert answer.startswith(b"HTTP/1.1 403"), answer
    assert control_plane.connections == 0


async def test_dns_rebinding_cannot_reach_loopback_through_the_proxy(sock: str) -> None:
    # The "public" first answer is 127.0.0.2 (opened on purpose); the rebound answer is the control plane.
    public = await RecordingServer(TARGET_IP).start()
    control = await RecordingServer("127.0.0.1").start(public.port)
    resolver, asked = rebinding_resolver(TARGET_IP, "127.0.0.1")
    try:
        async with EgressProxy(FULL, resolver=resolver, blocked_networks=OPEN_ONE_LOOPBACK) as proxy:
            await proxy.start(sock)
            first = await proxy_exchange(sock, f"GET http://rebind.test:{public.port}/ HTTP/1.1\r\n\r\n".encode())
            assert asked == ["rebind.test"]  # resolved once for the check and the connection
            second = await proxy_exchange(sock, f"GET http://rebind.test:{public.port}/ HTTP/1.1\r\n\r\n".encode())
    finally:
        await public.aclose()
        await control.aclose()
    assert first.endswith(b"hello from 127.0.0.2")
    assert second.startswith(b"HTTP/1.1 403") and b"127.0.0.1, a loopback address" in second
    assert control.connections == 0


@pytest.mark.parametrize("address", ["169.254.169.254", "169.254.170.2", "100.100.100.200", "fd00:ec2::254"])
async def test_metadata_addresses_are_refused_even_at_level_full_with_no_blocked_networks(
    sock: str, address: str
) -> None:
    resolver, _ = table_resolver({"metadata.test": [address]})
    async with EgressProxy(FULL, resolver=resolver, blocked_networks=()) as proxy:
        await proxy.start(sock)
        by_name = await proxy_exchange(sock, b"CONNECT metadata.test:80 HTTP/1.1\r\n\r\n")
        literal = address if ":" not in address else f"[{address}]"
        by_ip = await proxy_exchange(sock, f"GET http://{literal}/latest/meta-data/ HTTP/1.1\r\n\r\n".encode())
    for answer in (by_name, by_ip):
        assert answer.startswith(b"HTTP/1.1 403") and b"a cloud metadata address" in answer


async def test_requests_over_the_rate_limit_get_429_and_never_reach_the_target(sock: str) -> None:
    target = await RecordingServer(TARGET_IP).start()
    records: list[EgressRecord] = []

    async def log(record: EgressRecord) -> None:
        records.append(record)

    resolver, _ = table_resolver({"allowed.test": [TARGET_IP]})
    limits = ProxyLimits(requests_per_second=0.001, burst=2)
    try:
        async with EgressProxy(
            FULL, resolver=resolver, blocked_networks=OPEN_ONE_LOOPBACK, log=log, limits=limits
        ) as proxy:
            await proxy.start(sock)
            replies = [
                await proxy_exchange(sock, f"GET http://allowed.test:{target.port}/ HTTP/1.1\r\n\r\n".encode())
                for _ in range(4)
            ]
    finally:
        await target.aclose()
    assert [r[:12] for r in replies] == [b"HTTP/1.1 200"] * 2 + [b"HTTP/1.1 429"] * 2
    assert b"dexa egress: rate limit: more than 0.001 requests per second" in replies[2]
    assert target.connections == 2
    assert [r.decision for r in records] == ["allowed", "allowed", "rate_limited", "rate_limited"]


def test_the_default_blocked_networks_cover_the_control_plane_and_cloud_ranges() -> None:
    names = {str(n) for n in DEFAULT_BLOCKED_NETWORKS}
    assert {"127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16", "::1/128"} <= names
    assert {"fc00::/7", "fe80::/10", "100.64.0.0/10", "0.0.0.0/8"} <= names
