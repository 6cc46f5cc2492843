"""The `Skill` tool: the model sees each skill's name and description; the body loads only when invoked (§6.3-6.4)."""

from __future__ import annotations

import logging
from typing import Any

from dexa.core.ports import ToolSpec
from dexa.core.tools import ToolContext, ToolOutput

from .grants import SkillGrants
from .model import Skill
from .registry import SkillRegistry
from .substitute import RenderContext, ShellRunner, render_allowed_tools, render_body

logger = logging.getLogger(__name__)

LISTING_BUDGET_CHARS = 8000
SHELL_TIMEOUT_S = 60.0

_INTRO = """Execute a skill within the main conversation.

When users ask you to perform tasks, check if any of the available skills below can help complete the task more
effectively. Skills provide specialized capabilities and domain knowledge.

When users reference a "slash command" or "/<something>" (e.g. "/commit", "/review-pr"), they are referring to a
skill. Use this tool to invoke it.

How to invoke:
- Use this tool with the skill name and optional arguments
- Examples:
  - `skill: "pdf"` - invoke the pdf skill
  - `skill: "commit", args: "-m 'Fix bug'"` - invoke with arguments
  - `skill: "ms-office-suite:pdf"` - invoke using fully qualified name

Important:
- When a skill is relevant, invoke it BEFORE generating any other response about the task
- Only use skills listed in <available_skills> below
- Do not invoke a skill that is already running"""


def skill_listing(skills: list[Skill], budget: int = LISTING_BUDGET_CHARS) -> str:
    """`- name: description` lines within Claude Code's listing budget; later entries shrink to their name."""
    lines: list[str] = []
    used = 0
    for skill in skills:
        line = f"- {skill.name}: {skill.listing()}" if skill.listing() else f"- {skill.name}"
        if used + len(line) > budget:
            line = f"- {skill.name}"
        used += len(line) + 1
        lines.append(line)
    return "\n".join(lines)


def workspace_shell(ctx: ToolContext) -> ShellRunner:
    async def run(command: str) -> str:
        result = await ctx.workspace.exec(command, cwd=ctx.cwd, timeout_s=SHELL_TIMEOUT_S)
        out = result.stdout
        if result.exit_code != 0:
            out += (("\n" if out else "") + result.stderr).rstrip() + f"\n[exit code {result.exit_code}]"
        return out

    return run


class SkillTool:
    read_only = False

    def __init__(self, registry: SkillRegistry, *, shell_enabled: bool = True) -> None:
        self.registry = registry
        self.shell_enabled = shell_enabled
        listing = skill_listing(registry.model_invocable())
        self.spec = ToolSpec(
            name="Skill",
            description=f"{_INTRO}\n\n<available_skills>\n{listing}\n</available_skills>",
            input_schema={
                "type": "object",
                "properties": {
                    "skill": {"type": "string", "description": 'The skill name. E.g., "commit", "review-pr", or "pdf"'},
                    "args": {"type": "string", "description": "Optional arguments for the skill"},
                },
                "required": ["skill"],
                "additionalProperties": False,
            },
        )

    async def run(self, tool_input: dict[str, Any], ctx: ToolContext) -> ToolOutput:
        name = str(tool_input.get("skill") or "").strip().removeprefix("/")
        args = str(tool_input.get("args") or "")
        skill = self.registry.get(name)
        if skill is None:
            known = ", ".join(s.name for s in self.registry.model_invocable()) or "none"
            return ToolOutput(content=f"Unknown skill: {name}. Available skills: {known}", is_error=True)
        if not skill.model_invocable:
            return ToolOutput(
                content=f"Skill {skill.name} can only be invoked by the user (disable-model-invocation)", is_error=True
            )
        return await invoke_skill(skill, args, ctx, shell_enabled=self.shell_enabled)


async def invoke_skill(skill: Skill, args: str, ctx: ToolContext, *, shell_enabled: bool = True) -> ToolOutput:
    render = RenderContext(
        session_id=ctx.session_id, project_dir=ctx.cwd, shell=workspace_shell(ctx), shell_enabled=shell_enabled
    )
    body = await render_body(skill, args, render)
    grants: SkillGrants | None = ctx.services.get("skill_grants")
    if grants is not None:
        grants.grant(skill.name, render_allowed_tools(skill, render), skill.disallowed_tools)
    data: dict[str, Any] = {"success": True, "commandName": skill.name, "allowedTools": list(skill.allowed_tools)}
    if skill.model:
        data["model"] = skill.model
    if skill.context == "fork":
        runner = ctx.services.get("subagents")
        if runner is None:
            return ToolOutput(
                content=f"Skill {skill.name} runs in a subagent, but subagents are unavailable here", is_error=True
            )
        result = await runner.run_task(
            ctx, prompt=body, subagent_type=skill.agent or "general-purpose", description=f"skill {skill.name}"
        )
        result.data.update(data)
        return result
    header = f"Base directory for this skill: {skill.base_dir}\n\n" if skill.kind == "skill" else ""
    content = f"Launching skill: {skill.name}\n\n<command-name>{skill.name}</command-name>\n{header}{body}"
    return ToolOutput(content=content, data=data)
