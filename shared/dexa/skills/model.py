"""A skill: a SKILL.md (or a legacy `.claude/commands/*.md` command) the model or the user can invoke by name."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Source = Literal["managed", "user", "project", "plugin", "builtin"]
Kind = Literal["skill", "command"]

# Claude Code truncates `description` + `when_to_use` at this length in the listing (reference §6.2).
LISTING_DESCRIPTION_CHARS = 1536


@dataclass(frozen=True, slots=True, kw_only=True)
class Skill:
    name: str  # what follows the slash: `deploy`, `frontend:component`, `my-plugin:review`
    description: str
    body: str
    path: str
    base_dir: str
    source: Source
    kind: Kind = "skill"
    display_name: str = ""
    when_to_use: str = ""
    argument_hint: str = ""
    arguments: tuple[str, ...] = ()
    allowed_tools: tuple[str, ...] = ()
    disallowed_tools: tuple[str, ...] = ()
    model: str | None = None
    disable_model_invocation: bool = False
    user_invocable: bool = True
    context: str | None = None  # "fork": run as a subagent with the body as its task
    agent: str | None = None
    paths: tuple[str, ...] = ()
    shell: str = "bash"
    hooks: dict[str, Any] | None = None
    plugin: str | None = None
    plugin_root: str | None = None
    plugin_data: str | None = None
    aliases: tuple[str, ...] = field(default_factory=tuple)

    @property
    def model_invocable(self) -> bool:
        return not self.disable_model_invocation

    def listing(self) -> str:
        text = self.description
        if self.when_to_use:
            text = f"{text} {self.when_to_use}".strip()
        if len(text) > LISTING_DESCRIPTION_CHARS:
            text = text[: LISTING_DESCRIPTION_CHARS - 1] + "…"
        return text

    def summary(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "kind": self.kind,
            "source": self.source,
            "path": self.path,
            "argument_hint": self.argument_hint,
            "allowed_tools": list(self.allowed_tools),
            "model_invocable": self.model_invocable,
            "user_invocable": self.user_invocable,
        }


def first_paragraph(body: str) -> str:
    """Claude Code's default description: the body's first paragraph (headings stripped)."""
    lines: list[str] = []
    for line in body.strip().splitlines():
        if not line.strip():
            if lines:
                break
            continue
        lines.append(line.strip().lstrip("#").strip())
    return " ".join(x for x in lines if x)[:LISTING_DESCRIPTION_CHARS]


def first_line(body: str) -> str:
    for line in body.strip().splitlines():
        if line.strip():
            return line.strip().lstrip("#").strip()
    return ""
