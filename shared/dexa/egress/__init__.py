"""Egress: the network policy every path out of a session obeys (the sandbox proxy, WebFetch, http hooks and
http MCP servers). Pure policy modules are imported here; `proxy` and `transport` are imported by name."""

from .policy import LEVELS, TRUSTED_DOMAINS, NetworkLevel, NetworkPolicy
from .precedence import ResolvedNetwork, resolve_network

__all__ = ["LEVELS", "TRUSTED_DOMAINS", "NetworkLevel", "NetworkPolicy", "ResolvedNetwork", "resolve_network"]
