"""`EgressProxy`: the sandbox's only way out, an HTTP forward proxy on a per-session Unix socket.

Plain HTTP arrives as absolute-URI requests, HTTPS as CONNECT tunnels (TLS is never terminated, so the proxy
sees host names, not content). For each request the proxy checks the host against the session's policy,
resolves it once, refuses blocked addresses (loopback, private, metadata... so the control plane's ports are
unreachable), connects to that exact address and pipes bytes. Every request is reported to `log`; requests are
rate-limited per session (a token bucket plus a cap on concurrent connections).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import stat
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Literal

from dexa.core.errors import ConfigError, EgressDeniedError

from .addresses import DEFAULT_BLOCKED_NETWORKS, IPNetwork, Resolver, system_resolver
from .http_head import BadRequest, RequestHead, parse_head, refusal
from .policy import NetworkPolicy
from .ratelimit import TokenBucket
from .resolve import check_and_resolve

logger = logging.getLogger(__name__)

Decision = Literal["allowed", "denied", "rate_limited", "bad_request", "failed"]


@dataclass(frozen=True, slots=True, kw_only=True)
class EgressRecord:
    """One request through the proxy, as the runtime turns it into a session event."""

    host: str
    port: int
    method: str
    decision: Decision
    reason: str = ""
    address: str = ""  # the IP actually connected to
    bytes_sent: int = 0  # client -> upstream
    bytes_received: int = 0  # upstream -> client
    duration_ms: int = 0


EgressLog = Callable[[EgressRecord], Awaitable[None]]
LINGER_S = 0.5
_UNKNOWN = RequestHead(method="", host="", port=0, version="")


@dataclass(frozen=True, slots=True, kw_only=True)
class ProxyLimits:
    requests_per_second: float = 20.0
    burst: int = 40
    max_connections: int = 32
    header_timeout_s: float = 30.0
    connect_timeout_s: float = 10.0
    idle_timeout_s: float = 120.0  # no byte in either direction for this long closes a tunnel
    total_timeout_s: float = 3600.0
    max_header_bytes: int = 32 * 1024


async def _linger(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Half-close, then discard what the client still sends for a moment: closing a socket with unread bytes
    sends a reset, which can destroy the refusal the client has not read yet."""
    if writer.is_closing() or not writer.can_write_eof():
        return
    with contextlib.suppress(OSError, TimeoutError):
        writer.write_eof()
        async with asyncio.timeout(LINGER_S):
            while await reader.read(65536):
                pass


class EgressProxy:
    """Per-session forward proxy. `policy` may be replaced while running; new requests see the new one."""

    def __init__(
        self,
        policy: NetworkPolicy,
        *,
        resolver: Resolver = system_resolver,
        blocked_networks: Iterable[IPNetwork] = DEFAULT_BLOCKED_NETWORKS,
        log: EgressLog | None = None,
        limits: ProxyLimits | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.policy = policy
        self.limits = limits or ProxyLimits()
        self._resolver = resolver
        self._blocked = tuple(blocked_networks)
        self._log = log
        self._clock = clock
        self._bucket = TokenBucket(self.limits.requests_per_second, self.limits.burst, clock=clock)
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.path = ""

    async def start(self, path: str) -> None:
        """Listen on the Unix socket `path` (mode 0600). A stale socket there is replaced, any other file refused."""
        with contextlib.suppress(FileNotFoundError):
            if not stat.S_ISSOCK(os.lstat(path).st_mode):
                raise ConfigError(f"egress proxy socket path {path} exists and is not a socket")
            os.unlink(path)
        self._server = await asyncio.start_unix_server(self._serve, path=path, limit=self.limits.max_header_bytes)
        os.chmod(path, 0o600)
        self.path = path

    async def aclose(self) -> None:
        if self._server is None:
            return
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()
        self._server = None
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)

    async def __aenter__(self) -> EgressProxy:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            if len(self._tasks) > self.limits.max_connections:
                reason = f"too many concurrent connections (limit {self.limits.max_connections})"
                await self._refuse(writer, 429, reason, _UNKNOWN, "rate_limited")
            else:
                await self._handle(reader, writer)
            await _linger(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except asyncio.CancelledError:
            # Only aclose() cancels these tasks, and this is their last frame. Ending cancelled would make
            # Python 3.11's stream callback log a spurious "Exception in callback" for each open connection.
            pass
        finally:
            self._tasks.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        started = self._clock()
        try:
            raw = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), self.limits.header_timeout_s)
            head = parse_head(raw)
        except TimeoutError:
            return await self._refuse(writer, 408, "timed out waiting for the request head", _UNKNOWN, "bad_request")
        except asyncio.LimitOverrunError:
            reason = f"request head over {self.limits.max_header_bytes} bytes"
            return await self._refuse(writer, 431, reason, _UNKNOWN, "bad_request")
        except BadRequest as exc:
            return await self._refuse(writer, exc.status, exc.message, _UNKNOWN, "bad_request")
        if not self._bucket.take():
            reason = f"rate limit: more than {self.limits.requests_per_second:g} requests per second for this session"
            return await self._refuse(writer, 429, reason, head, "rate_limited")
        try:
            addresses = await check_and_resolve(
                head.host, head.port, policy=self.policy, resolver=self._resolver, blocked_networks=self._blocked
            )
        except EgressDeniedError as exc:
            status = 502 if exc.code == "egress_unresolved" else 403
            return await self._refuse(writer, status, exc.message, head, "denied")
        upstream = await self._connect(addresses, head)
        if isinstance(upstream, str):
            return await self._refuse(writer, 502, upstream, head, "failed")
        up_reader, up_writer, address = upstream
        try:
            forwarded = b""
            if head.method == "CONNECT":
                writer.write(b"HTTP/1.1 200 Connection Established\r\n\r\n")
            else:
                forwarded = head.upstream_head()
                up_writer.write(forwarded)
            sent, received, end = await self._pipe(reader, writer, up_reader, up_writer)
            sent += len(forwarded)
        finally:
            up_writer.close()
        await self._emit(
            head,
            "allowed",
            end,
            address=address,
            sent=sent,
            received=received,
            duration_ms=int((self._clock() - started) * 1000),
        )

    async def _connect(
        self, addresses: list[str], head: RequestHead
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, str] | str:
        """A stream to the first checked address that answers, or why none did. Never to the name."""
        failures: list[str] = []
        for address in addresses:
            try:
                r, w = await asyncio.wait_for(
                    asyncio.open_connection(address, head.port), self.limits.connect_timeout_s
                )
                return r, w, address
            except TimeoutError:
                failures.append(f"{address}: timed out")
            except OSError as exc:
                failures.append(f"{address}: {exc.strerror or exc}")
        return f"could not connect to {head.host}:{head.port} ({'; '.join(failures)})"

    async def _pipe(
        self,
        client_r: asyncio.StreamReader,
        client_w: asyncio.StreamWriter,
        up_r: asyncio.StreamReader,
        up_w: asyncio.StreamWriter,
    ) -> tuple[int, int, str]:
        last = [self._clock()]
        counts = [0, 0]

        async def copy(src: asyncio.StreamReader, dst: asyncio.StreamWriter, index: int) -> str:
            while True:
                remaining = self.limits.idle_timeout_s - (self._clock() - last[0])
                if remaining <= 0:
                    return "idle timeout"
                try:
                    data = await asyncio.wait_for(src.read(65536), remaining)
                except TimeoutError:
                    continue  # the other direction may have been busy: re-check the shared clock
                if not data:
                    break
                last[0] = self._clock()
                counts[index] += len(data)
                dst.write(data)
                await dst.drain()
            # Half-close only towards the origin: the client's EOF comes after the request is logged.
            if index == 0 and dst.can_write_eof():
                with contextlib.suppress(OSError):
                    dst.write_eof()
            return "closed"

        up = asyncio.create_task(copy(client_r, up_w, 0))
        down = asyncio.create_task(copy(up_r, client_w, 1))
        try:
            async with asyncio.timeout(self.limits.total_timeout_s):
                end = await down  # the origin finishing ends the exchange, whatever the client still holds open
        except TimeoutError:
            end = "total timeout"
        except OSError:
            end = "connection reset"
        finally:
            for task in (up, down):
                task.cancel()
            await asyncio.gather(up, down, return_exceptions=True)
        return counts[0], counts[1], end

    async def _refuse(
        self,
        writer: asyncio.StreamWriter,
        status: int,
        reason: str,
        head: RequestHead,
        decision: Decision,
    ) -> None:
        with contextlib.suppress(ConnectionError):
            writer.write(refusal(status, reason))
            await writer.drain()
        await self._emit(head, decision, reason)

    async def _emit(
        self,
        head: RequestHead,
        decision: Decision,
        reason: str,
        *,
        address: str = "",
        sent: int = 0,
        received: int = 0,
        duration_ms: int = 0,
    ) -> None:
        record = EgressRecord(
            host=head.host,
            port=head.port,
            method=head.method,
            decision=decision,
            reason=reason,
            address=address,
            bytes_sent=sent,
            bytes_received=received,
            duration_ms=duration_ms,
        )
        logger.debug("egress %s %s:%s %s %s", head.method, head.host, head.port, decision, reason)
        if self._log is None:
            return
        try:
            await self._log(record)
        except Exception:  # a broken event sink must not take the session's network down
            logger.exception("egress log callback failed")
