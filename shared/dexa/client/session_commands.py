"""DexaClient's interactive-session operations (a mixin, as config_api.py): custom slash commands, /compact,
/model and /mcp. Tagged like every other operation, so the OpenAPI drift test covers them."""

from __future__ import annotations

from dexa.api.schemas.session_actions import TurnAccepted
from dexa.api.schemas.session_commands import CompactPublic, McpServersPublic
from dexa.api.schemas.sessions import SessionPublic

from .request import Operations, operation


class SessionCommandOperations(Operations):
    @operation("POST", "/sessions/{session_id}/commands")
    async def run_command(self, session_id: str, command: str) -> TurnAccepted:
        return await self._call(
            "POST", f"/sessions/{session_id}/commands", TurnAccepted, json_body={"command": command}
        )

    @operation("POST", "/sessions/{session_id}/compact")
    async def compact(self, session_id: str) -> CompactPublic:
        return await self._call("POST", f"/sessions/{session_id}/compact", CompactPublic)

    @operation("POST", "/sessions/{session_id}/model")
    async def set_model(self, session_id: str, model: str) -> SessionPublic:
        return await self._call("POST", f"/sessions/{session_id}/model", SessionPublic, json_body={"model": model})

    @operation("GET", "/sessions/{session_id}/mcp")
    async def mcp_servers(self, session_id: str) -> McpServersPublic:
        return await self._call("GET", f"/sessions/{session_id}/mcp", McpServersPublic)
