"""Plan mode tools: `EnterPlanMode` and `ExitPlanMode` (reference §2.6, §12.2).

Plan mode is read-only analysis (the permission engine refuses edits and execution). `ExitPlanMode` presents the
plan; the permission layer asks the user to approve it (it is never auto-approved here), and once approved the tool
switches the session back to the mode it had before planning (or `default`).
"""

from __future__ import annotations

import time
from typing import Any

from dexa.core.engine import TurnEngine
from dexa.core.events import EventType
from dexa.core.ports import ToolSpec
from dexa.core.tools import ToolContext, ToolOutput

from .binding import EngineLink

KV_NAMESPACE = "plan_mode"
EXECUTION_MODES = ("default", "acceptEdits", "bypassPermissions", "dontAsk")

ENTERED = """Entered plan mode. You should now focus on exploring the codebase and designing an implementation \
approach.

In plan mode, you should:
1. Thoroughly explore the codebase to understand existing patterns
2. Identify similar features and architectural approaches
3. Consider multiple approaches and their trade-offs
4. Use AskUserQuestion if you need to clarify the approach
5. Design a concrete implementation strategy
6. When ready, use ExitPlanMode to present your plan for approval

Remember: DO NOT write or edit any files yet. This is a read-only exploration and planning phase."""


async def enter_plan_mode(engine: TurnEngine, session_id: str) -> str:
    """Switch to plan mode, remembering the mode to return to. Returns that previous mode."""
    session = await engine.store.get_session(session_id)
    if session.permission_mode == "plan":
        return await previous_mode(engine, session_id)
    await engine.store.kv_put(KV_NAMESPACE, session_id, {"previous": session.permission_mode, "at": time.time()})
    await engine.set_mode(session_id, "plan")
    return session.permission_mode


async def previous_mode(engine: TurnEngine, session_id: str) -> str:
    """The mode before plan mode: remembered by enter_plan_mode, else read from the mode-change events."""
    doc = await engine.store.kv_get(KV_NAMESPACE, session_id)
    if doc and doc.get("previous") in EXECUTION_MODES:
        return str(doc["previous"])
    after, found = 0, "default"
    while True:
        events = await engine.store.read_events(session_id, after=after, limit=1000)
        for event in events:
            if event.type == EventType.PERMISSION_MODE_CHANGED and event.data.get("to") == "plan":
                found = str(event.data.get("from") or "default")
        if len(events) < 1000:
            break
        after = events[-1].seq
    return found if found in EXECUTION_MODES else "default"


async def exit_plan_mode(engine: TurnEngine, session_id: str) -> str:
    target = await previous_mode(engine, session_id)
    await engine.set_mode(session_id, target)
    await engine.store.kv_delete(KV_NAMESPACE, session_id)
    return target


class EnterPlanModeTool:
    read_only = True

    def __init__(self, link: EngineLink) -> None:
        self.link = link
        self.spec = ToolSpec(
            name="EnterPlanMode",
            description=(
                "Use this tool proactively when you are about to start a non-trivial implementation task. Entering "
                "plan mode lets you explore the codebase read-only and design an approach for the user to approve "
                "before any file is changed. Do not use it for simple, clearly specified tasks or pure research."
            ),
            input_schema={"type": "object", "properties": {}, "additionalProperties": False},
        )

    async def run(self, tool_input: dict[str, Any], ctx: ToolContext) -> ToolOutput:
        engine = self.link.bound
        session = await engine.store.get_session(ctx.session_id)
        if session.permission_mode == "plan":
            return ToolOutput(content="Already in plan mode. Continue planning, then use ExitPlanMode.")
        previous = await enter_plan_mode(engine, ctx.session_id)
        return ToolOutput(content=ENTERED, data={"mode": "plan", "previous_mode": previous})


class ExitPlanModeTool:
    read_only = True

    def __init__(self, link: EngineLink) -> None:
        self.link = link
        self.spec = ToolSpec(
            name="ExitPlanMode",
            description=(
                "Use this tool when you are in plan mode and have finished planning: it presents your plan to the "
                "user for approval. Pass the plan as `plan` (markdown, concise but complete). Only use it for tasks "
                "that require writing code; for research tasks just answer. The user may approve (you then leave "
                "plan mode and may start implementing) or reject it with feedback."
            ),
            input_schema={
                "type": "object",
                "properties": {
                    "plan": {"type": "string", "description": "The plan you came up with, for the user to approve"},
                    "planFilePath": {"type": "string"},
                    "allowedPrompts": {"type": "array", "description": "Deprecated; ignored"},
                },
                "additionalProperties": True,
            },
        )

    async def run(self, tool_input: dict[str, Any], ctx: ToolContext) -> ToolOutput:
        engine = self.link.bound
        session = await engine.store.get_session(ctx.session_id)
        plan = str(tool_input.get("plan") or "").strip()
        path = str(tool_input.get("planFilePath") or "")
        if not plan and path and await ctx.workspace.exists(path):
            plan = (await ctx.workspace.read_bytes(path)).decode("utf-8", errors="replace").strip()
        if session.permission_mode != "plan":
            return ToolOutput(
                content="You are not in plan mode, so there is no plan to exit. Continue the task.", is_error=True
            )
        if not plan:
            return ToolOutput(
                content="ExitPlanMode: pass your plan as `plan` so the user can review it.", is_error=True
            )
        target = await exit_plan_mode(engine, ctx.session_id)
        content = (
            "User has approved your plan. You can now start coding. Start with updating your todo list if "
            f"applicable\n\n## Approved Plan:\n{plan}"
        )
        return ToolOutput(
            content=content, data={"plan": plan, "isAgent": False, "filePath": path or None, "mode": target}
        )
