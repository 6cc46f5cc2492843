"""TodoWrite and TodoRead: the session's checklist, kept in SessionState and broadcast as `todo.updated`."""

from __future__ import annotations

import copy
from typing import Any

from dexa.core.errors import ToolError
from dexa.core.ports import ToolSpec
from dexa.core.tools import ToolContext, ToolOutput

from .validate import BaseTool, RerunOnRecover

_TODO_ITEM = {
    "type": "object",
    "properties": {
        "content": {"type": "string", "minLength": 1, "description": "The task, imperative (e.g. 'Run tests')"},
        "status": {"type": "string", "enum": ["pending", "in_progress", "completed"]},
        "activeForm": {"type": "string", "minLength": 1, "description": "Present continuous (e.g. 'Running tests')"},
    },
    "required": ["content", "status", "activeForm"],
}
_MARK = {"pending": "[ ]", "in_progress": "[~]", "completed": "[x]"}


def render_todos(todos: list[dict[str, Any]]) -> str:
    if not todos:
        return "The todo list is empty."
    return "\n".join(f"{i}. {_MARK.get(t['status'], '[ ]')} {t['content']}" for i, t in enumerate(todos, 1))


class TodoWrite(RerunOnRecover, BaseTool):
    spec = ToolSpec(
        name="TodoWrite",
        description=(
            "Creates and updates the structured task list for this session; use it for multi-step work so progress "
            "is visible. Send the WHOLE list every time. Each item: content (imperative), activeForm (present "
            "continuous, shown while working on it) and status pending | in_progress | completed. Keep exactly one "
            "item in_progress while working, and mark items completed as soon as they are done."
        ),
        input_schema={
            "type": "object",
            "properties": {"todos": {"type": "array", "items": _TODO_ITEM, "description": "The updated todo list"}},
            "required": ["todos"],
        },
    )

    async def call(self, tool_input: dict[str, Any], ctx: ToolContext) -> ToolOutput:
        todos = [
            {"content": t["content"].strip(), "status": t["status"], "activeForm": t["activeForm"].strip()}
            for t in tool_input["todos"]
        ]
        if any(not t["content"] or not t["activeForm"] for t in todos):
            raise ToolError("Every todo needs a non-blank `content` and `activeForm`.")
        in_progress = sum(t["status"] == "in_progress" for t in todos)
        old = copy.deepcopy(ctx.state.todos)
        ctx.state.todos = todos
        await ctx.emit("todo.updated", {"todos": todos})
        note = ""
        if in_progress > 1:
            note = f"\nNote: {in_progress} items are in_progress; keep exactly one in progress at a time."
        return ToolOutput(
            content=(
                "Todos have been modified successfully. Ensure that you continue to use the todo list to track your "
                "progress. Please proceed with the current tasks if applicable." + note
            ),
            data={"oldTodos": old, "newTodos": todos},
        )


class TodoRead(RerunOnRecover, BaseTool):
    read_only = True
    spec = ToolSpec(
        name="TodoRead",
        description="Returns the session's current todo list (as last written with TodoWrite).",
        input_schema={"type": "object", "properties": {}},
    )

    async def call(self, tool_input: dict[str, Any], ctx: ToolContext) -> ToolOutput:
        todos = copy.deepcopy(ctx.state.todos)
        return ToolOutput(content=render_todos(todos), data={"todos": todos})
