"""Managed meeting-recorder server: recordings and transcripts (read-only)."""

from __future__ import annotations

from typing import Any

from mcp.server.mcpserver import MCPServer

from dexa.integrations.providers.base import MeetingsProvider

from .base import READ, Mode, call, new_server


def build_meetings_server(provider: MeetingsProvider, *, mode: Mode = "agent") -> MCPServer:
    del mode  # read-only: both modes are the same server
    mcp = new_server("meetings", "Meeting recorder: recordings and transcripts of past meetings.")

    @mcp.tool(annotations=READ)
    async def list_recordings(time_min: str, time_max: str) -> dict[str, Any]:
        """Recorded meetings between two ISO 8601 times."""
        return {"recordings": await call(lambda: provider.list_recordings(time_min=time_min, time_max=time_max))}

    @mcp.tool(annotations=READ)
    async def get_transcript(recording_id: str) -> dict[str, Any]:
        """The transcript of one recording, with speakers and action items."""
        return await call(lambda: provider.get_transcript(recording_id))

    return mcp
