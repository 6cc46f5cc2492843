"""Subagents, the Task tool, plan mode, AskUserQuestion, and `load_extensions` (reference §5, §12.2).

Nothing is imported eagerly: the runtime build needs only `.child_env`, and an API or webhooks Lambda that never
runs a turn must not pay for the agent definitions, skills, permission analysis and tool registry.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dexa.core.lazy import lazy_exports

if TYPE_CHECKING:
    from .binding import EngineLink
    from .builtin import BUILTIN_AGENTS, GENERAL_PURPOSE, PLAN
    from .child_env import SubagentEnvs
    from .definitions import AgentDefinition, AgentRegistry, discover_agents, parse_agent_file
    from .extensions import Extensions, load_extensions, plan_model_for
    from .plan_mode import EnterPlanModeTool, ExitPlanModeTool, enter_plan_mode, exit_plan_mode
    from .questions import AskUserQuestionTool, answer_question
    from .runner import SubagentRunner, child_session_id
    from .task_tool import TaskTool

_EXPORTS = {
    "EngineLink": ".binding",
    "BUILTIN_AGENTS": ".builtin",
    "GENERAL_PURPOSE": ".builtin",
    "PLAN": ".builtin",
    "SubagentEnvs": ".child_env",
    "AgentDefinition": ".definitions",
    "AgentRegistry": ".definitions",
    "discover_agents": ".definitions",
    "parse_agent_file": ".definitions",
    "Extensions": ".extensions",
    "load_extensions": ".extensions",
    "plan_model_for": ".extensions",
    "EnterPlanModeTool": ".plan_mode",
    "ExitPlanModeTool": ".plan_mode",
    "enter_plan_mode": ".plan_mode",
    "exit_plan_mode": ".plan_mode",
    "AskUserQuestionTool": ".questions",
    "answer_question": ".questions",
    "SubagentRunner": ".runner",
    "child_session_id": ".runner",
    "TaskTool": ".task_tool",
}


__getattr__ = lazy_exports(__name__, _EXPORTS)


__all__ = [
    "BUILTIN_AGENTS",
    "GENERAL_PURPOSE",
    "PLAN",
    "AgentDefinition",
    "AgentRegistry",
    "AskUserQuestionTool",
    "EngineLink",
    "EnterPlanModeTool",
    "ExitPlanModeTool",
    "Extensions",
    "SubagentEnvs",
    "SubagentRunner",
    "TaskTool",
    "answer_question",
    "child_session_id",
    "discover_agents",
    "enter_plan_mode",
    "exit_plan_mode",
    "load_extensions",
    "parse_agent_file",
    "plan_model_for",
]
