"""User prompts before they become turns: slash commands and skills expand, built-ins route."""

from __future__ import annotations

from dataclasses import dataclass

from dexa.commands.builtins import CommandResult
from dexa.commands.expand import ExpandContext, expand_prompt
from dexa.core.environment import SessionEnv
from dexa.core.session import Session


@dataclass(frozen=True, slots=True)
class PreparedPrompt:
    text: str | None  # None: nothing to submit as a turn
    command: CommandResult | None = None


async def prepare_prompt(text: str, session: Session, env: SessionEnv) -> PreparedPrompt:
    registry = env.services.get("skills")
    if registry is None:
        return PreparedPrompt(text)
    ctx = ExpandContext(
        registry=registry,
        cwd=session.cwd,
        session_id=session.id,
        workspace=env.workspace,
        grants=env.services.get("skill_grants"),
    )
    out = await expand_prompt(text, ctx)
    if isinstance(out, CommandResult):
        return PreparedPrompt(None, out)
    return PreparedPrompt(str(out))
