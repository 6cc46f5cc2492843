"""Staged outputs: side-effecting business actions held as PendingOutputs until a reviewer (or policy) decides.

Nothing is imported eagerly: the review notifier (every Lambda that announces approvals) needs only `.links`, and
the gate and queue pull in the MCP SDK (seconds of a cold start).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .executor import LiveSessions, OutputExecutor, RoutingExecutor
    from .gate import StagingGate
    from .links import ApprovalLinks
    from .models import PendingOutput
    from .policy import OutputPolicy, decide
    from .queue import OutputQueue

_EXPORTS = {
    "ApprovalLinks": ".links",
    "LiveSessions": ".executor",
    "OutputExecutor": ".executor",
    "OutputPolicy": ".policy",
    "OutputQueue": ".queue",
    "PendingOutput": ".models",
    "RoutingExecutor": ".executor",
    "StagingGate": ".gate",
    "decide": ".policy",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'dexa.integrations.outputs' has no attribute {name!r}")
    return getattr(importlib.import_module(module, __name__), name)


__all__ = [
    "ApprovalLinks",
    "LiveSessions",
    "OutputExecutor",
    "OutputPolicy",
    "OutputQueue",
    "PendingOutput",
    "RoutingExecutor",
    "StagingGate",
    "decide",
]
