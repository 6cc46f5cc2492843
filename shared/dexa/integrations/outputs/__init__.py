"""Staged outputs: side-effecting business actions held as PendingOutputs until a reviewer (or policy) decides.

Nothing is imported eagerly: the review notifier (every Lambda that announces approvals) needs only `.links`, and
the gate and queue pull in the MCP SDK (seconds of a cold start).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dexa.core.lazy import lazy_exports

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


__getattr__ = lazy_exports(__name__, _EXPORTS)


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
