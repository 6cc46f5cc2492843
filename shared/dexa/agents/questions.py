"""`AskUserQuestion`: multiple-choice clarification answered by any client, or by policy in headless runs.

Answers reach the tool in one of three ways, checked in order:
1. already in the input (`answers`), put there by a client resolving the permission prompt with `updated_input` or
   by a PreToolUse hook (Claude Code's headless recipe);
2. the session's answer policy, `SessionConfig.extra["ask_user_answers"]`: `"first"` (first option of each question)
   or a mapping `{question text or header: label}`;
3. a question approval (`Approval(kind="question", id="q_<tool_use_id>")`) the tool creates and waits on, like the
   engine's `await_approval`; any client answers it with `answer_question(...)` (or `engine.resolve_approval(...,
   updated_input={"answers": {...}})`). Unanswered after the timeout, the question is withdrawn.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from dexa.core.engine import TurnEngine
from dexa.core.errors import NotFoundError
from dexa.core.events import EventType
from dexa.core.ports import ToolSpec
from dexa.core.session import Approval, Session
from dexa.core.tools import ToolContext, ToolOutput
from dexa.tools.validate import check_input

from .binding import EngineLink

ANSWERS_KEY = "ask_user_answers"
DEFAULT_TIMEOUT_S = 600.0

_OPTION = {
    "type": "object",
    "properties": {
        "label": {"type": "string"},
        "description": {"type": "string"},
        "preview": {"type": "string"},
    },
    "required": ["label", "description"],
}
_QUESTION = {
    "type": "object",
    "properties": {
        "question": {"type": "string", "description": "The complete question, ending with a question mark"},
        "header": {"type": "string", "maxLength": 12, "description": "Very short label (max 12 chars)"},
        "options": {"type": "array", "items": _OPTION, "minItems": 2, "maxItems": 4},
        "multiSelect": {"type": "boolean", "default": False},
    },
    "required": ["question", "header", "options", "multiSelect"],
}
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "questions": {"type": "array", "items": _QUESTION, "minItems": 1, "maxItems": 4},
        "answers": {"type": "object", "additionalProperties": {"type": "string"}},
        "annotations": {"type": "object"},
        "metadata": {"type": "object", "properties": {"source": {"type": "string"}}},
    },
    "required": ["questions"],
}
DESCRIPTION = """Use this tool when you need to ask the user questions during execution. This allows you to:
1. Gather user preferences or requirements
2. Clarify ambiguous instructions
3. Get decisions on implementation choices as you work
4. Offer choices to the user about what direction to take.

Usage notes:
- Users will always be able to select "Other" to provide custom text input
- Use multiSelect: true to allow multiple answers to be selected for a question
- If you recommend a specific option, make that the first option in the list and add "(Recommended)" at the end of \
the label"""


def question_id(tool_use_id: str) -> str:
    return f"q_{tool_use_id}"


def format_answers(answers: Mapping[str, str]) -> str:
    pairs = ", ".join(f'"{q}"="{a}"' for q, a in answers.items())
    return f"User has answered your questions: {pairs}. You can now continue with the user's answers in mind."


def policy_answers(questions: list[dict[str, Any]], policy: object) -> dict[str, str] | None:
    """Answers from a headless policy, or None when the policy does not cover every question."""
    if policy is None:
        return None
    answers: dict[str, str] = {}
    for q in questions:
        text = str(q.get("question", ""))
        options = [str(o.get("label", "")) for o in q.get("options", []) if isinstance(o, dict)]
        if isinstance(policy, Mapping):
            chosen = policy.get(text, policy.get(str(q.get("header", ""))))  # pyright: ignore[reportUnknownMemberType]
            if chosen is None and policy.get("*") == "first" and options:  # pyright: ignore[reportUnknownMemberType]
                chosen = options[0]
            if chosen is None:
                return None
            answers[text] = ", ".join(chosen) if isinstance(chosen, list) else str(chosen)  # pyright: ignore[reportUnknownArgumentType]
        elif policy == "first" and options:
            answers[text] = options[0]
        else:
            return None
    return answers


def _complete(questions: list[dict[str, Any]], answers: object) -> dict[str, str] | None:
    if not isinstance(answers, Mapping) or not answers:
        return None
    texts = [str(q.get("question", "")) for q in questions]
    got = {str(k): str(v) for k, v in answers.items()}  # pyright: ignore[reportUnknownVariableType]
    return got if all(t in got for t in texts) else None


async def answer_question(
    engine: TurnEngine, session_id: str, question: str, answers: Mapping[str, str] | None, *, by: str = ""
) -> tuple[Approval, bool]:
    """Answer a pending question (its `q_...` id, or the AskUserQuestion permission prompt's `ap_...` id).

    `answers=None` declines. Returns (approval, won) like `engine.resolve_approval`.
    Raises NotFoundError for an unknown id.
    """
    approval = await engine.store.get_approval(session_id, question)
    if approval is None:
        raise NotFoundError(f"question {question} not found in session {session_id}")
    if answers is None:
        return await engine.resolve_approval(session_id, question, allow=False, by=by, message="declined")
    updated = {**approval.input, "answers": dict(answers)}
    return await engine.resolve_approval(session_id, question, allow=True, by=by, updated_input=updated)


class AskUserQuestionTool:
    read_only = True

    def __init__(self, link: EngineLink, *, timeout_s: float = DEFAULT_TIMEOUT_S, poll_s: float = 0.5) -> None:
        self.link = link
        self.timeout_s = timeout_s
        self.poll_s = poll_s
        self.spec = ToolSpec(name="AskUserQuestion", description=DESCRIPTION, input_schema=SCHEMA)

    async def run(self, tool_input: dict[str, Any], ctx: ToolContext) -> ToolOutput:
        problem = check_input(self.spec, tool_input)
        if problem is not None:
            return problem
        questions: list[dict[str, Any]] = list(tool_input["questions"])
        given = _complete(questions, tool_input.get("answers"))
        if given is not None:
            return self._answered(questions, given, source="input")
        engine = self.link.bound
        session = await engine.store.get_session(ctx.session_id)
        auto = policy_answers(questions, session.config.extra.get(ANSWERS_KEY))
        if auto is not None:
            return self._answered(questions, auto, source="policy")
        if session.config.headless:
            return ToolOutput(
                is_error=True,
                content=(
                    "No user can answer questions in this headless run. Proceed with your best judgement, or rerun "
                    f'with an answer policy (session config extra.{ANSWERS_KEY} = "first" or a mapping of answers).'
                ),
            )
        return await self._ask(engine, session, tool_input, questions, ctx)

    async def recover(self, tool_input: dict[str, Any], ctx: ToolContext) -> ToolOutput:
        return await self.run(tool_input, ctx)

    async def _ask(
        self,
        engine: TurnEngine,
        session: Session,
        tool_input: dict[str, Any],
        questions: list[dict[str, Any]],
        ctx: ToolContext,
    ) -> ToolOutput:
        qid = question_id(ctx.tool_use_id)
        approval = await engine.store.get_approval(session.id, qid)
        if approval is None:
            approval = Approval(
                id=qid,
                session_id=session.id,
                tool_use_id=ctx.tool_use_id,
                tool_name="AskUserQuestion",
                input=dict(tool_input),
                kind="question",
                reason="The agent has questions for you",
                created_at=time.time(),
            )
            await engine.store.put_approval(approval)
            await engine.emit(
                session.id,
                EventType.PERMISSION_REQUIRED,
                {
                    "approval_id": qid,
                    "question_id": qid,
                    "kind": "question",
                    "tool_use_id": ctx.tool_use_id,
                    "tool_name": "AskUserQuestion",
                    "input": dict(tool_input),
                    "questions": questions,
                    "reason": approval.reason,
                    "options": ["answer", "deny"],
                },
            )
        deadline = approval.created_at + self.timeout_s
        while approval.status == "pending":
            remaining = deadline - time.time()
            fresh = await engine.store.get_session(session.id)
            if remaining <= 0 or fresh.cancel_requested:
                await engine.resolve_approval(
                    session.id, qid, allow=False, by="timeout", message="no answer before the timeout"
                )
                return ToolOutput(
                    is_error=True,
                    content=(
                        f"The user did not answer within {int(self.timeout_s)} seconds. Proceed with your best "
                        "judgement and state the assumptions you made."
                    ),
                )
            await engine.notifier.wait(f"approval:{session.id}", min(self.poll_s, remaining))
            approval = await engine.store.get_approval(session.id, qid) or approval
        if approval.status != "allowed":
            note = f" Their message: {approval.message}" if approval.message else ""
            return ToolOutput(is_error=True, content=f"The user declined to answer.{note}")
        answers = _complete(questions, approval.input.get("answers"))
        if answers is None:
            return ToolOutput(is_error=True, content="The answer did not cover every question; ask again if needed.")
        return self._answered(questions, answers, source="user")

    @staticmethod
    def _answered(questions: list[dict[str, Any]], answers: dict[str, str], *, source: str) -> ToolOutput:
        return ToolOutput(
            content=format_answers(answers), data={"questions": questions, "answers": answers, "source": source}
        )
