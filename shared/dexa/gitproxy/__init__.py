"""The git credential proxy: git smart HTTP between the workspace and the forge, with the real credential
injected upstream and pushes limited to the session's own branches. Mount `create_gitproxy_router(...)`."""

from __future__ import annotations

from .policy import AncestryChecker, ref_refusals
from .router import create_gitproxy_router, kv_session_repos
from .tokens import SessionClaims, SessionTokens

__all__ = [
    "AncestryChecker",
    "SessionClaims",
    "SessionTokens",
    "create_gitproxy_router",
    "kv_session_repos",
    "ref_refusals",
]
