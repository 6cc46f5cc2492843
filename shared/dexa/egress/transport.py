"""An httpx transport for control-plane clients (WebFetch, http hooks, http MCP servers) that obeys the egress
policy and connects to the address it checked.

httpcore asks its network backend for a TCP stream to (host, port); this backend answers by checking the host
against the policy, resolving it once and connecting to that exact address. TLS still verifies the certificate
against the URL's host name (SNI and Host stay the name), so pinning the address weakens nothing.
"""

from __future__ import annotations

import functools
import ssl
from collections.abc import Iterable
from typing import Any, cast

import httpcore
import httpx

from dexa.core.errors import EgressDeniedError

from .addresses import DEFAULT_BLOCKED_NETWORKS, IPNetwork, Resolver, system_resolver
from .policy import NetworkPolicy
from .resolve import check_and_resolve


@functools.cache
def default_ssl_context() -> ssl.SSLContext:
    # Loading the CA bundle costs tens of milliseconds; one context serves every connection.
    return httpx.create_ssl_context(trust_env=False)


class EgressNetworkBackend(httpcore.AsyncNetworkBackend):
    def __init__(
        self,
        policy: NetworkPolicy,
        *,
        resolver: Resolver = system_resolver,
        blocked_networks: Iterable[IPNetwork] = DEFAULT_BLOCKED_NETWORKS,
        inner: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        self.policy = policy
        self._resolver = resolver
        self._blocked = tuple(blocked_networks)
        # httpcore also defines a stand-in AnyIOBackend for when anyio is missing, which the type checker sees too.
        self._inner: httpcore.AsyncNetworkBackend = inner or cast(httpcore.AsyncNetworkBackend, httpcore.AnyIOBackend())

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await check_and_resolve(
            host, port, policy=self.policy, resolver=self._resolver, blocked_networks=self._blocked
        )
        failure: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(address, port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None  # check_and_resolve never returns an empty list
        raise failure

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.AsyncNetworkStream:
        raise EgressDeniedError(f"Unix socket {path} is not reachable through the egress policy")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class EgressTransport(httpx.AsyncHTTPTransport):
    """`httpx.AsyncHTTPTransport` whose connections go through `EgressNetworkBackend`.

    Environment proxies are never used (`trust_env=False`): a proxy would resolve the name again.
    A refused destination raises `dexa.core.errors.EgressDeniedError` out of the request.
    """

    def __init__(
        self,
        policy: NetworkPolicy,
        *,
        resolver: Resolver = system_resolver,
        blocked_networks: Iterable[IPNetwork] = DEFAULT_BLOCKED_NETWORKS,
        ssl_context: ssl.SSLContext | None = None,
        limits: httpx.Limits = httpx.Limits(max_connections=20, max_keepalive_connections=5),
        http2: bool = False,
    ) -> None:
        context = ssl_context or default_ssl_context()
        super().__init__(verify=context, trust_env=False, limits=limits, http2=http2)
        self.backend = EgressNetworkBackend(policy, resolver=resolver, blocked_networks=blocked_networks)
        # httpx offers no public hook for the network backend; the pool is rebuilt with the same settings.
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            http1=True,
            http2=http2,
            network_backend=self.backend,
        )


def egress_transport(
    policy: NetworkPolicy,
    *,
    resolver: Resolver = system_resolver,
    blocked_networks: Iterable[IPNetwork] = DEFAULT_BLOCKED_NETWORKS,
    ssl_context: ssl.SSLContext | None = None,
) -> httpx.AsyncBaseTransport:
    """The transport every control-plane HTTP client should use: `httpx.AsyncClient(transport=..., trust_env=False)`."""
    return EgressTransport(policy, resolver=resolver, blocked_networks=blocked_networks, ssl_context=ssl_context)
