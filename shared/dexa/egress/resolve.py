"""Check a destination against the policy and the address rules, resolving its name exactly once.

Every control-plane client and the sandbox proxy connect to an address this returned, never to a name, so a DNS
answer that changes between the check and the connection (rebinding) cannot reach a blocked address.
"""

from __future__ import annotations

from collections.abc import Iterable

from dexa.core.errors import EgressDeniedError

from .addresses import DEFAULT_BLOCKED_NETWORKS, IPNetwork, Resolver, blocked_reason, parse_address, system_resolver
from .policy import NetworkPolicy, normalize_host


async def check_and_resolve(
    host: str,
    port: int,
    *,
    policy: NetworkPolicy,
    resolver: Resolver = system_resolver,
    blocked_networks: Iterable[IPNetwork] = DEFAULT_BLOCKED_NETWORKS,
) -> list[str]:
    """The checked addresses for `host`, in the resolver's order; connect to one of these and nothing else.

    Raises:
        EgressDeniedError: the policy refuses the name (code `egress_denied`), it does not resolve
            (`egress_unresolved`), or any answer is a blocked address (`egress_blocked_address`): a mixed
            public/private answer is refused as a whole.
    """
    name = normalize_host(host)
    reason = policy.denial_reason(name)
    if reason:
        raise EgressDeniedError(reason, host=name)
    if parse_address(name) is not None:
        addresses = [name]
    else:
        try:
            addresses = await resolver(name, port)
        except OSError as exc:
            raise EgressDeniedError(f"could not resolve {name}: {exc}", host=name, code="egress_unresolved") from exc
        if not addresses:
            raise EgressDeniedError(f"could not resolve {name}", host=name, code="egress_unresolved")
    networks = tuple(blocked_networks)
    for address in addresses:
        why = blocked_reason(address, networks)
        if why:
            raise EgressDeniedError(
                f"{name} resolves to {address}, {why}", host=name, address=address, code="egress_blocked_address"
            )
    return addresses
