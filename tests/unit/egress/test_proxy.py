"""EgressProxy: forwarding, refusals with clear bodies, the request log, limits and timeouts."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import AsyncIterator

import pytest

from dexa.core.errors import ConfigError
from dexa.egress.policy import NetworkPolicy
from dexa.egress.proxy import EgressProxy, EgressRecord, ProxyLimits
from dexa.testing.netdoubles import OPEN_ONE_LOOPBACK, TARGET_IP, RecordingServer, proxy_exchange, table_resolver

pytestmark = pytest.mark.anyio

ALLOWED = NetworkPolicy.from_level("custom", ["allowed.test", "silent.test"])


@pytest.fixture
async def target() -> AsyncIterator[RecordingServer]:
    server = await RecordingServer(TARGET_IP).start()
    yield server
    await server.aclose()


async def _proxy(
    sock_dir: str, policy: NetworkPolicy = ALLOWED, limits: ProxyLimits | None = None
) -> tuple[EgressProxy, list[EgressRecord]]:
    records: list[EgressRecord] = []

    async def log(record: EgressRecord) -> None:
        records.append(record)

    resolver, _ = table_resolver({"allowed.test": [TARGET_IP], "other.test": [TARGET_IP], "silent.test": [TARGET_IP]})
    proxy = EgressProxy(policy, resolver=resolver, blocked_networks=OPEN_ONE_LOOPBACK, log=log, limits=limits)
    await proxy.start(os.path.join(sock_dir, "egress.sock"))
    return proxy, records


async def test_plain_http_is_forwarded_in_origin_form_with_its_own_host_and_logged(
    sock_dir: str, target: RecordingServer
) -> None:
    proxy, records = await _proxy(sock_dir)
    async with proxy:
        request = (
            f"GET http://allowed.test:{target.port}/a?b=1 HTTP/1.1\r\nHost: evil.test\r\n"
            "Proxy-Authorization: Basic c2VjcmV0\r\nX-Keep: yes\r\n\r\n"
        )
        reply = await proxy_exchange(proxy.path, request.encode())
    assert reply.startswith(b"HTTP/1.1 200") and reply.endswith(b"hello from 127.0.0.2")
    seen = target.requests[0].decode()
    assert seen.startswith("GET /a?b=1 HTTP/1.1\r\n")
    assert f"Host: allowed.test:{target.port}" in seen and "evil.test" not in seen
    assert "Proxy-Authorization" not in seen and "X-Keep: yes" in seen
    [record] = records
    assert (record.host, record.port, record.method, record.decision) == ("allowed.test", target.port, "GET", "allowed")
    assert record.address == TARGET_IP and record.bytes_sent > 0 and record.bytes_received == len(reply)


async def test_connect_tunnels_bytes_to_the_checked_address(sock_dir: str, target: RecordingServer) -> None:
    proxy, records = await _proxy(sock_dir)
    async with proxy:
        reply = await proxy_exchange(
            proxy.path, f"CONNECT allowed.test:{target.port} HTTP/1.1\r\n\r\n".encode(), b"GET / HTTP/1.1\r\n\r\n"
        )
    assert reply.startswith(b"HTTP/1.1 200 Connection Established\r\n\r\nHTTP/1.1 200 OK")
    assert target.connections == 1 and records[0].decision == "allowed" and records[0].method == "CONNECT"


@pytest.mark.parametrize(
    ("policy", "message"),
    [
        (ALLOWED, b"dexa egress: other.test is not in this session's network policy (level custom)\n"),
        (NetworkPolicy(), b"dexa egress: this session has no network access (level none), so other.test is"),
        (NetworkPolicy.from_level("full", denied=["other.test"]), b"dexa egress: other.test is denied by this"),
    ],
)
async def test_a_host_outside_the_policy_gets_403_naming_the_reason(
    sock_dir: str, target: RecordingServer, policy: NetworkPolicy, message: bytes
) -> None:
    proxy, records = await _proxy(sock_dir, policy)
    async with proxy:
        reply = await proxy_exchange(proxy.path, f"CONNECT other.test:{target.port} HTTP/1.1\r\n\r\n".encode())
    assert reply.startswith(b"HTTP/1.1 403 Forbidden\r\n") and message in reply
    assert target.connections == 0
    assert [(r.host, r.decision) for r in records] == [("other.test", "denied")]


@pytest.mark.parametrize(
    ("request_head", "status", "text"),
    [
        (b"GET / HTTP/1.1\r\nHost: allowed.test\r\n\r\n", b"400", b"forward proxy"),
        (b"GET https://allowed.test/ HTTP/1.1\r\n\r\n", b"400", b"with CONNECT"),
        (b"CONNECT allowed.test HTTP/1.1\r\n\r\n", b"400", b"host:port"),
        (b"CONNECT allowed.test:99999 HTTP/1.1\r\n\r\n", b"400", b"invalid port"),
        (b"GET http://user:pw@allowed.test/ HTTP/1.1\r\n\r\n", b"400", b"credentials"),
        (b"NONSENSE\r\n\r\n", b"400", b"malformed request line"),
        (b"CONNECT nowhere.test:443 HTTP/1.1\r\n\r\n", b"403", b"not in this session's network policy"),
    ],
)
async def test_malformed_requests_get_a_clear_error(
    sock_dir: str, request_head: bytes, status: bytes, text: bytes
) -> None:
    proxy, _ = await _proxy(sock_dir)
    async with proxy:
        reply = await proxy_exchange(proxy.path, request_head)
    assert reply.startswith(b"HTTP/1.1 " + status) and text in reply


async def test_an_unresolvable_allowed_name_is_a_502(sock_dir: str) -> None:
    proxy, _ = await _proxy(sock_dir, NetworkPolicy.from_level("full"))
    async with proxy:
        reply = await proxy_exchange(proxy.path, b"CONNECT nowhere.test:443 HTTP/1.1\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 502") and b"could not resolve nowhere.test" in reply


async def test_oversized_and_slow_request_heads_are_refused(sock_dir: str) -> None:
    limits = ProxyLimits(max_header_bytes=1024, header_timeout_s=0.2)
    proxy, _ = await _proxy(sock_dir, limits=limits)
    async with proxy:
        big = await proxy_exchange(proxy.path, b"GET http://allowed.test/ HTTP/1.1\r\nX: " + b"a" * 4096 + b"\r\n\r\n")
        reader, writer = await asyncio.open_unix_connection(proxy.path)
        writer.write(b"GET http://allowed.test/ HTTP/1.1\r\n")  # and never the blank line
        slow = await asyncio.wait_for(reader.read(), 5)
        writer.close()
    assert big.startswith(b"HTTP/1.1 431") and b"over 1024 bytes" in big
    assert slow.startswith(b"HTTP/1.1 408")


async def test_concurrent_connections_over_the_limit_get_429(sock_dir: str) -> None:
    proxy, records = await _proxy(sock_dir, limits=ProxyLimits(max_connections=1))
    async with proxy:
        _, holder = await asyncio.open_unix_connection(proxy.path)
        await asyncio.sleep(0.05)  # let the proxy accept the first connection
        reply = await proxy_exchange(proxy.path, b"CONNECT allowed.test:1 HTTP/1.1\r\n\r\n")
        holder.close()
    assert reply.startswith(b"HTTP/1.1 429") and b"too many concurrent connections (limit 1)" in reply
    assert b"Retry-After: 1" in reply and records[-1].decision == "rate_limited"


async def test_an_idle_tunnel_is_closed(sock_dir: str) -> None:
    silent = await RecordingServer(TARGET_IP, silent=True).start()
    proxy, records = await _proxy(sock_dir, limits=ProxyLimits(idle_timeout_s=0.3))
    try:
        async with proxy:
            reply = await proxy_exchange(
                proxy.path, f"CONNECT silent.test:{silent.port} HTTP/1.1\r\n\r\n".encode(), b"ping", timeout=5
            )
    finally:
        await silent.aclose()
    assert reply == b"HTTP/1.1 200 Connection Established\r\n\r\n"
    assert records[-1].reason == "idle timeout" and records[-1].bytes_sent == 4


async def test_a_total_timeout_ends_even_a_busy_tunnel(sock_dir: str) -> None:
    silent = await RecordingServer(TARGET_IP, silent=True).start()
    proxy, records = await _proxy(sock_dir, limits=ProxyLimits(idle_timeout_s=10, total_timeout_s=0.4))
    try:
        async with proxy:
            reader, writer = await asyncio.open_unix_connection(proxy.path)
            writer.write(f"CONNECT silent.test:{silent.port} HTTP/1.1\r\n\r\n".encode())
            await reader.readuntil(b"\r\n\r\n")
            closed = asyncio.create_task(reader.read())
            with contextlib.suppress(ConnectionError):
                for _ in range(100):  # keep it busy (never idle) until the proxy ends it
                    if closed.done():
                        break
                    writer.write(b"x")
                    await asyncio.sleep(0.05)
            assert await asyncio.wait_for(closed, 20) == b""  # generous: CI at load ~30 once took longer than 5 s
            writer.close()
    finally:
        await silent.aclose()
    assert records[-1].reason == "total timeout"


async def test_start_replaces_a_stale_socket_refuses_other_files_and_close_removes_it(sock_dir: str) -> None:
    path = os.path.join(sock_dir, "egress.sock")
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(path)
    stale.close()
    proxy = EgressProxy(NetworkPolicy())
    await proxy.start(path)
    assert os.stat(path).st_mode & 0o777 == 0o600
    await proxy.aclose()
    assert "egress.sock" not in os.listdir(sock_dir)
    open(path, "w").close()
    with pytest.raises(ConfigError, match="exists and is not a socket"):
        await EgressProxy(NetworkPolicy()).start(path)


async def test_a_failing_log_callback_does_not_break_the_proxy(sock_dir: str, target: RecordingServer) -> None:
    async def broken(record: EgressRecord) -> None:
        raise RuntimeError("sink down")

    resolver, _ = table_resolver({"allowed.test": [TARGET_IP]})
    proxy = EgressProxy(ALLOWED, resolver=resolver, blocked_networks=OPEN_ONE_LOOPBACK, log=broken)
    await proxy.start(os.path.join(sock_dir, "egress.sock"))
    async with proxy:
        reply = await proxy_exchange(proxy.path, f"GET http://allowed.test:{target.port}/ HTTP/1.1\r\n\r\n".encode())
    assert reply.endswith(b"hello from 127.0.0.2")
