"""The engine's permission asks as ACP `session/request_permission` options, and the editor's pick as a decision.

A tool ask offers allow once / allow always / reject once, the engine's own three answers. Leaving plan mode
(ExitPlanMode) is a review of the plan, as in Claude Code: approve and auto-accept edits, approve and review
each edit, or keep planning. `Choice.mode_after` is the mode the session should be in once the plan is approved.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from acp.schema import AllowedOutcome, PermissionOption, RequestPermissionResponse

Decision = Literal["once", "always", "deny"]

TOOL_OPTIONS = (
    PermissionOption(option_id="allow_once", name="Allow", kind="allow_once"),
    PermissionOption(option_id="allow_always", name="Always allow", kind="allow_always"),
    PermissionOption(option_id="reject_once", name="Reject", kind="reject_once"),
)
PLAN_OPTIONS = (
    PermissionOption(option_id="plan_accept_edits", name="Yes, and auto-accept edits", kind="allow_always"),
    PermissionOption(option_id="plan_default", name="Yes, and manually approve edits", kind="allow_once"),
    PermissionOption(option_id="reject_once", name="No, keep planning", kind="reject_once"),
)
# A parked call decided elsewhere (a staged output in blocking mode) has no "always".
ONCE_OPTIONS = (TOOL_OPTIONS[0], TOOL_OPTIONS[2])

_DECISIONS: dict[str, tuple[Decision, str | None]] = {
    "allow_once": ("once", None),
    "allow_always": ("always", None),
    "reject_once": ("deny", None),
    "plan_accept_edits": ("once", "acceptEdits"),
    "plan_default": ("once", "default"),
}


@dataclass(frozen=True, slots=True)
class Choice:
    decision: Decision
    mode_after: str | None = None
    cancelled: bool = False


def options_for(ask: dict[str, Any]) -> list[PermissionOption]:
    """The options for one `permission.required` event's data."""
    if ask.get("tool_name") == "ExitPlanMode" and ask.get("kind", "tool") == "tool":
        return list(PLAN_OPTIONS)
    if "always" not in (ask.get("options") or ["always"]):
        return list(ONCE_OPTIONS)
    return list(TOOL_OPTIONS)


def choice_of(response: RequestPermissionResponse) -> Choice:
    """A cancelled prompt (the editor sent session/cancel) is a denial; an option id we never offered too."""
    outcome = response.outcome
    if not isinstance(outcome, AllowedOutcome):
        return Choice("deny", cancelled=True)
    decision, mode = _DECISIONS.get(outcome.option_id, ("deny", None))
    return Choice(decision, mode)
