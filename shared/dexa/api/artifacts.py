"""A session's artifacts, derived from its event log: file diffs, command logs (outputs come from the queue)."""

from __future__ import annotations

from typing import Any

from dexa.core.events import EventType
from dexa.core.ports import EventLog

from .schemas.session_actions import CommandArtifact, DiffArtifact

COMMAND_TOOLS = frozenset({"Bash"})
PAGE = 1000


async def collect(log: EventLog, session_id: str) -> tuple[list[DiffArtifact], list[CommandArtifact]]:
    started: dict[str, dict[str, Any]] = {}
    diffs: list[DiffArtifact] = []
    commands: list[CommandArtifact] = []
    cursor = 0
    while True:
        events = await log.read_events(session_id, after=cursor, limit=PAGE)
        for ev in events:
            cursor = ev.seq
            data = ev.data
            if ev.type == EventType.TOOL_STARTED:
                started[str(data.get("tool_use_id", ""))] = data
            elif ev.type == EventType.TOOL_COMPLETED:
                tool_use_id = str(data.get("tool_use_id", ""))
                name = str(data.get("name", ""))
                call_input = started.get(tool_use_id, {}).get("input") or {}
                out = data.get("data") or {}
                if isinstance(out, dict) and out.get("diff"):
                    path = out.get("filePath") or call_input.get("file_path") or call_input.get("notebook_path") or ""
                    diffs.append(
                        DiffArtifact(
                            seq=ev.seq, tool_use_id=tool_use_id, tool=name, path=str(path), diff=str(out["diff"])
                        )
                    )
                if name in COMMAND_TOOLS:
                    commands.append(
                        CommandArtifact(
                            seq=ev.seq,
                            tool_use_id=tool_use_id,
                            command=str(call_input.get("command", "")),
                            output=str(data.get("content", "")),
                            is_error=bool(data.get("is_error", False)),
                            status=str(data.get("status", "")),
                        )
                    )
        if len(events) < PAGE:
            return diffs, commands
