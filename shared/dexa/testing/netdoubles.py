"""Network test doubles for egress tests: a TCP server that counts who reached it, a raw proxy client, resolvers.

Real sockets on loopback addresses only; nothing here touches the outside network.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Mapping

from dexa.egress.addresses import DEFAULT_BLOCKED_NETWORKS, IPNetwork, Resolver

# Targets listen on 127.0.0.2, which stands for "a public server"; 127.0.0.1 stays blocked like the control plane.
TARGET_IP = "127.0.0.2"
OPEN_ONE_LOOPBACK: tuple[IPNetwork, ...] = (
    *(n for n in DEFAULT_BLOCKED_NETWORKS if str(n) != "127.0.0.0/8"),
    ipaddress.ip_network("127.0.0.1/32"),
)


class RecordingServer:
    """A TCP listener that records every connection and answers one HTTP request with `hello from <host>`.

    `silent=True` accepts and never answers (for idle timeouts and CONNECT-refusal tests).
    """

    def __init__(self, host: str = "127.0.0.1", *, silent: bool = False) -> None:
        self.host = host
        self.silent = silent
        self.connections = 0
        self.requests: list[bytes] = []
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []

    async def start(self, port: int = 0) -> RecordingServer:
        self._server = await asyncio.start_server(self._handle, self.host, port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def aclose(self) -> None:
        if self._server is not None:
            self._server.close()
            for writer in self._writers:
                writer.close()
            await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.append(writer)
        try:
            if self.silent:
                await reader.read()
                return
            self.requests.append(await reader.readuntil(b"\r\n\r\n"))
            body = f"hello from {self.host}".encode()
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body))
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()


async def proxy_exchange(socket_path: str, request: bytes, tunnel: bytes = b"", *, timeout: float = 5.0) -> bytes:
    """Send `request` to the proxy on `socket_path`; after a 200 to a CONNECT, send `tunnel` through it.

    Returns every byte the proxy sent until it closed the connection.
    """
    reader, writer = await asyncio.open_unix_connection(socket_path)
    try:
        async with asyncio.timeout(timeout):
            writer.write(request)
            await writer.drain()
            if not tunnel:
                return await reader.read()
            head = await reader.readuntil(b"\r\n\r\n")
            if not head.startswith(b"HTTP/1.1 200"):
                return head + await reader.read()
            writer.write(tunnel)
            await writer.drain()
            return head + await reader.read()
    finally:
        writer.close()


def table_resolver(table: Mapping[str, list[str]]) -> tuple[Resolver, list[str]]:
    """A resolver answering from `table` (unknown names raise OSError), and the list of names it was asked."""
    asked: list[str] = []

    async def resolve(host: str, port: int) -> list[str]:
        asked.append(host)
        if host not in table:
            raise OSError(f"unknown host {host}")
        return list(table[host])

    return resolve, asked


def rebinding_resolver(first: str, then: str) -> tuple[Resolver, list[str]]:
    """Answers `first` to the first question about any name and `then` ever after: a DNS-rebinding attacker."""
    asked: list[str] = []

    async def resolve(host: str, port: int) -> list[str]:
        asked.append(host)
        return [first if len(asked) == 1 else then]

    return resolve, asked
