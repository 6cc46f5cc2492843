"""The `Task` tool (Claude Code's `Agent`; both names work): delegate a task to a subagent (reference §5.4)."""

from __future__ import annotations

from typing import Any

from dexa.core.ports import ToolSpec
from dexa.core.tools import ToolContext, ToolOutput
from dexa.tools.validate import check_input

from .definitions import AgentRegistry

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "description": {"type": "string", "description": "A short (3-5 word) description of the task"},
        "prompt": {"type": "string", "description": "The task for the agent to perform"},
        "subagent_type": {"type": "string", "description": "The type of specialized agent to use for this task"},
        "model": {
            "type": "string",
            "enum": ["sonnet", "opus", "haiku", "fable"],
            "description": "Optional model override for this agent",
        },
        "run_in_background": {"type": "boolean", "description": "Not supported by Dexa yet: runs in the foreground"},
        "name": {"type": "string"},
        "team_name": {"type": "string"},
        "mode": {"type": "string", "enum": ["acceptEdits", "auto", "bypassPermissions", "default", "dontAsk", "plan"]},
        "isolation": {"type": "string", "enum": ["worktree", "remote"]},
    },
    "required": ["description", "prompt"],
}


def describe(agents: AgentRegistry) -> str:
    lines = []
    for agent in agents.all():
        tools = "*" if agent.tools is None else ", ".join(agent.tools)
        lines.append(f"- {agent.name}: {agent.description} (Tools: {tools})")
    listing = "\n".join(lines)
    return f"""Launch a new agent to handle complex, multi-step tasks autonomously.

Available agent types and the tools they have access to:
{listing}

When using the Task tool, specify a subagent_type to select which agent type to use (default: general-purpose).

Usage notes:
- Launch multiple agents concurrently whenever possible, to maximize performance.
- When the agent is done, it returns a single message back to you. The result is not visible to the user: send \
the user a concise summary of it.
- Each agent invocation is stateless and starts with a fresh context. Your prompt should contain a highly detailed \
task description for the agent to perform autonomously, and say exactly what information it should return.
- Clearly tell the agent whether you expect it to write code or just to do research.
- Subagents cannot launch further subagents."""


class TaskTool:
    read_only = False

    def __init__(self, agents: AgentRegistry) -> None:
        self.agents = agents
        self.spec = ToolSpec(name="Task", description=describe(agents), input_schema=SCHEMA)

    async def run(self, tool_input: dict[str, Any], ctx: ToolContext) -> ToolOutput:
        problem = check_input(self.spec, tool_input)
        if problem is not None:
            return problem
        runner = ctx.services.get("subagents")
        if runner is None:
            return ToolOutput(content="Subagents are not available in this session.", is_error=True)
        return await runner.run_task(
            ctx,
            prompt=str(tool_input["prompt"]),
            subagent_type=tool_input.get("subagent_type"),
            description=str(tool_input.get("description", "")),
            model=tool_input.get("model"),
            mode=tool_input.get("mode"),
        )

    async def recover(self, tool_input: dict[str, Any], ctx: ToolContext) -> ToolOutput:
        # The child session id is derived from this tool call, so running again resumes the same subagent.
        return await self.run(tool_input, ctx)
