"""Per-session wrappers the extensions put around the lead's policy and hooks.

`AgentPolicy`: skill grants on top of the session policy, and `ExitPlanMode` always asks (a plan is approved by
a person, never by a rule or mode). `SessionHooks`: clears skill grants when a new prompt arrives, and in headless
runs answers `AskUserQuestion` / approves `ExitPlanMode` by policy, through Claude Code's documented mechanism (a
PreToolUse `allow` with `updatedInput`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dexa.core.ports import HookOutcome, HookRunner, PermissionDecision, PermissionPolicy
from dexa.core.session import SessionConfig
from dexa.skills.grants import SkillGrants

from .questions import ANSWERS_KEY, policy_answers

PLAN_APPROVAL_KEY = "auto_approve_plan"


@dataclass(slots=True)
class AgentPolicy:
    base: PermissionPolicy
    grants: SkillGrants
    # Headless with no answer policy: AskUserQuestion keeps the base "ask", which the engine reports as a denial.
    questions_answerable: bool = True

    def decide(self, tool_name: str, tool_input: Mapping[str, Any], *, mode: str, cwd: str) -> PermissionDecision:
        decision = self.grants.decide(
            self.base.decide(tool_name, tool_input, mode=mode, cwd=cwd), tool_name, tool_input, cwd=cwd
        )
        if tool_name == "AskUserQuestion" and decision.behavior == "ask" and self.questions_answerable:
            # The question itself is the prompt: one approval (kind "question"), not a permission prompt first.
            return PermissionDecision(
                behavior="allow", rule=None, source="question", reason="the user answers the question itself"
            )
        if tool_name == "ExitPlanMode" and decision.behavior == "allow":
            return PermissionDecision(
                behavior="ask",
                rule=None,
                source="plan",
                reason="Approve this plan to leave plan mode and start implementing?",
            )
        return decision

    def __getattr__(self, name: str) -> Any:
        if name in ("base", "grants"):
            raise AttributeError(name)
        return getattr(self.base, name)


class SessionHooks:
    def __init__(self, base: HookRunner | None, *, grants: SkillGrants, config: SessionConfig) -> None:
        self.base = base
        self.grants = grants
        self.config = config

    async def run(self, event: str, payload: Mapping[str, Any], *, match: str | None = None) -> HookOutcome:
        if event == "UserPromptSubmit":
            self.grants.on_user_prompt()
        outcome = await self.base.run(event, payload, match=match) if self.base is not None else HookOutcome()
        if (
            event != "PreToolUse"
            or not self.config.headless
            or outcome.permission_decision == "deny"
            or outcome.blocked
        ):
            return outcome
        tool_input = dict(payload.get("tool_input") or {})
        if match == "AskUserQuestion" and not tool_input.get("answers"):
            answers = policy_answers(list(tool_input.get("questions") or []), self.config.extra.get(ANSWERS_KEY))
            if answers is not None:
                return HookOutcome(
                    permission_decision="allow",
                    updated_input={**tool_input, "answers": answers},
                    reason="answered by the session's answer policy",
                )
        if match == "ExitPlanMode" and self.config.extra.get(PLAN_APPROVAL_KEY):
            return HookOutcome(permission_decision="allow", reason="plan approved by the session's policy")
        return outcome
