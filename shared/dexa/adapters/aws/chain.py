"""How far one agent-step invocation carries the turn before it hands it back to the state machine.

Each state transition and Lambda invoke costs a user-visible pause (and money), so one invocation runs consecutive
steps (model call -> decide -> quick tools -> model call ...) while that is safe, and returns to the machine when:

* the turn must park: an approval (outcome "wait"), the end of the turn, a cancel;
* the next tool calls may be long or are journaled (Bash, scripts, subagents, MCP calls): those run as their own
  task, so no call shares another's 15-minute limit and the killed-mid-tool retry path stays exactly as it was;
* the invocation has used its time budget (a share of the time Lambda gave it), so a step never starts late;
* the machine needs the step boundary itself (ContinueAsNew before a model call past the per-execution cap).

Durability is unchanged: every step persists before the next starts, exactly as under the machine, so a crash at
any step boundary is a retried task that finds the turn further along and routes on.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Final

from .asl import TASK_TIMEOUT_S

# The share of the invocation's remaining time (at its start) within which a further step may still start.
BUDGET_SHARE: Final = 0.6
# Tools with effects that are quick control-plane file operations on the workspace (no process, no network).
QUICK_TOOLS: Final = frozenset({"Edit", "Write", "MultiEdit", "NotebookEdit"})


@dataclass(frozen=True, slots=True)
class StepBudget:
    """Until when (time.monotonic) this invocation may start another step."""

    until: float

    @classmethod
    def from_context(cls, context: Any, *, share: float = BUDGET_SHARE) -> StepBudget:
        """From the Lambda context's remaining time; the Task timeout when there is no context (tests, local)."""
        remaining_ms: Callable[[], float] | None = getattr(context, "get_remaining_time_in_millis", None)
        seconds = remaining_ms() / 1000 if remaining_ms is not None else float(TASK_TIMEOUT_S)
        return cls(until=time.monotonic() + max(0.0, seconds) * share)

    def left(self) -> bool:
        return time.monotonic() < self.until


def quick_tools(calls: Iterable[tuple[str, str, bool]]) -> bool:
    """Whether every (name, status, read_only) call still to run may run inside a chained invocation.

    Read-only calls that are allowed run side by side in-process (the engine's run_tools); calls waiting for a
    decision or with effects beyond a file edit go back to the machine.
    """
    return all(status == "allowed" and (read_only or name in QUICK_TOOLS) for name, status, read_only in calls)
