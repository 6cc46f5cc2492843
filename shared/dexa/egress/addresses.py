"""Which IP addresses no session may reach, whatever its network level.

Loopback, private, link-local, multicast, unspecified and reserved ranges hide the control plane's ports, the
host's other services and the cloud network; instance-metadata addresses hand out credentials. Addresses that
embed an IPv4 address (IPv4-mapped, NAT64, 6to4) are checked under both forms, so `::ffff:127.0.0.1` is loopback.
`blocked_networks` is explicit so a test can open one loopback address on purpose; the metadata addresses are
refused even then.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable

Resolver = Callable[[str, int], Awaitable[list[str]]]
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

METADATA_ADDRESSES: frozenset[IPAddress] = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "169.254.170.2", "100.100.100.200", "fd00:ec2::254")
)

_LABELS: dict[str, str] = {
    "0.0.0.0/8": "an unspecified",
    "10.0.0.0/8": "a private",
    "100.64.0.0/10": "a private (shared NAT)",
    "127.0.0.0/8": "a loopback",
    "169.254.0.0/16": "a link-local",
    "172.16.0.0/12": "a private",
    "192.0.0.0/24": "a reserved",
    "192.0.2.0/24": "a reserved (documentation)",
    "192.168.0.0/16": "a private",
    "198.18.0.0/15": "a reserved (benchmarking)",
    "198.51.100.0/24": "a reserved (documentation)",
    "203.0.113.0/24": "a reserved (documentation)",
    "224.0.0.0/4": "a multicast",
    "240.0.0.0/4": "a reserved",
    "::/128": "an unspecified",
    "::1/128": "a loopback",
    "::/96": "a reserved (IPv4-compatible)",
    "64:ff9b:1::/48": "a private (local NAT64)",
    "100::/64": "a reserved (discard)",
    "2001::/23": "a reserved (IETF, Teredo)",
    "2001:db8::/32": "a reserved (documentation)",
    "fc00::/7": "a private (unique local)",
    "fe80::/10": "a link-local",
    "fec0::/10": "a private (site-local)",
    "ff00::/8": "a multicast",
}
DEFAULT_BLOCKED_NETWORKS: tuple[IPNetwork, ...] = tuple(ipaddress.ip_network(n) for n in _LABELS)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


async def system_resolver(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def parse_address(address: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(address.split("%", 1)[0].strip("[]"))
    except ValueError:
        return None


def _forms(ip: IPAddress) -> list[IPAddress]:
    forms: list[IPAddress] = [ip]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            forms.append(ip.ipv4_mapped)
        if ip.sixtofour is not None:
            forms.append(ip.sixtofour)
        if ip in _NAT64:
            forms.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return forms


def blocked_reason(address: str, blocked_networks: Iterable[IPNetwork] = DEFAULT_BLOCKED_NETWORKS) -> str | None:
    """None when `address` may be connected to, else why not ("a loopback address")."""
    ip = parse_address(address)
    if ip is None:
        return "not an IP address"
    networks = tuple(blocked_networks)
    for form in _forms(ip):
        if form in METADATA_ADDRESSES:
            return "a cloud metadata address"
        for net in networks:
            if form.version == net.version and form in net:
                return f"{_LABELS.get(str(net)) or _label(net)} address"
    return None


def _label(net: IPNetwork) -> str:
    """A label for a caller-supplied network (say 127.0.0.1/32 in a test) from what its first address is."""
    ip = net.network_address
    for label, flag in (
        ("a loopback", ip.is_loopback),
        ("a link-local", ip.is_link_local),
        ("a multicast", ip.is_multicast),
        ("a private", ip.is_private),
        ("a reserved", ip.is_reserved),
    ):
        if flag:
            return label
    return "a blocked"
