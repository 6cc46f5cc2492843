"""Vendor-hosted MCP servers connected over the MCP authorization flow, run by the SDK's OAuth client.

The control plane is the OAuth client: it discovers, registers, authorizes, stores the grant in the vault and
refreshes it. Sessions reach the server through the control plane's connection; no token enters a workspace.
"""

from .connector import RemoteMcpAuth
from .provider import AuthorizationRequired, ReauthRequired

__all__ = ["AuthorizationRequired", "ReauthRequired", "RemoteMcpAuth"]
