"""Staged outputs: side-effecting business actions held as PendingOutputs until a reviewer (or policy) decides."""

from __future__ import annotations

from .executor import LiveSessions, OutputExecutor, RoutingExecutor
from .gate import StagingGate
from .links import ApprovalLinks
from .models import PendingOutput
from .policy import OutputPolicy, decide
from .queue import OutputQueue

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
