"""Built-in slash commands. Dexa does not run them here: the REPL / CLI / API routes them by name."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

BUILTIN_COMMANDS: dict[str, str] = {
    "help": "Show available commands",
    "clear": "Clear conversation history and start fresh",
    "compact": "Summarize the conversation to free context (optional: focus instructions)",
    "cost": "Show the session's token usage and cost",
    "model": "Show or set the model (e.g. /model sonnet, /model sonnetplan)",
    "permissions": "Show or change permission rules and mode",
    "memory": "Show the memory files (CLAUDE.md, rules, imports) loaded in this session",
    "rewind": "Rewind the conversation and/or code to an earlier checkpoint",
    "status": "Show session status: model, mode, working directory, usage",
    "agents": "List the available subagents",
    "skills": "List the available skills",
    "plan": "Enter plan mode (optionally with a prompt to plan)",
    "plugin": "Manage plugins and marketplaces",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class CommandResult:
    """A typed slash command that is not a prompt for the model.

    kind "builtin": route `name` with `args` (the REPL/CLI owns /compact, /rewind, /model ...); `message` carries
    ready-made text where there is one (/help). kind "error": show `message` to the user, submit nothing.
    """

    kind: Literal["builtin", "error"]
    name: str
    args: str = ""
    message: str = ""


class ExpandedPrompt(str):
    """The text to submit for a custom command or skill, plus what its frontmatter asked for."""

    command: str
    model: str | None
    allowed_tools: tuple[str, ...]

    def __new__(
        cls, text: str, *, command: str, model: str | None = None, allowed_tools: tuple[str, ...] = ()
    ) -> ExpandedPrompt:
        obj = super().__new__(cls, text)
        obj.command = command
        obj.model = model
        obj.allowed_tools = allowed_tools
        return obj
