"""The git credential proxy: git smart HTTP between the workspace and the forge, with the real credential
injected upstream and pushes limited to the session's own branches. Mount `create_gitproxy_router(...)`.

Nothing is imported eagerly: a step Lambda mints session tokens (`dexa.code.tokens`) and must not pay for FastAPI, which
only the API function, serving the router, needs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dexa.core.lazy import lazy_exports

if TYPE_CHECKING:
    from dexa.code.tokens import SessionClaims, SessionTokens

    from .policy import AncestryChecker, ref_refusals
    from .router import create_gitproxy_router, kv_session_repos

_EXPORTS = {
    "AncestryChecker": ".policy",
    "ref_refusals": ".policy",
    "create_gitproxy_router": ".router",
    "kv_session_repos": ".router",
    "SessionClaims": "dexa.code.tokens",
    "SessionTokens": "dexa.code.tokens",
}


__getattr__ = lazy_exports(__name__, _EXPORTS)


__all__ = [
    "AncestryChecker",
    "SessionClaims",
    "SessionTokens",
    "create_gitproxy_router",
    "kv_session_repos",
    "ref_refusals",
]
