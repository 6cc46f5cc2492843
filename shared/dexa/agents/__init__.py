"""Subagents, the Task tool, plan mode, AskUserQuestion, and `load_extensions` (reference §5, §12.2)."""

from __future__ import annotations

from .binding import EngineLink
from .builtin import BUILTIN_AGENTS, GENERAL_PURPOSE, PLAN
from .child_env import SubagentEnvs
from .definitions import AgentDefinition, AgentRegistry, discover_agents, parse_agent_file
from .extensions import Extensions, load_extensions, plan_model_for
from .plan_mode import EnterPlanModeTool, ExitPlanModeTool, enter_plan_mode, exit_plan_mode
from .questions import AskUserQuestionTool, answer_question
from .runner import SubagentRunner, child_session_id
from .task_tool import TaskTool

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
