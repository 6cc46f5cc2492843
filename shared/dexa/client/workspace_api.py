"""DexaClient's operations for rich clients (a mixin, as config_api.py): the session's workspace files, its agents,
commands and skills, MCP server management, summaries, share links and terminal tickets. Tagged like every other
operation, so the OpenAPI drift test covers them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from dexa.api.schemas.config import AgentsPublic, SkillsPublic
from dexa.api.schemas.files import FileContentPublic, FilesPublic, SearchPublic, SymbolsPublic
from dexa.api.schemas.session_commands import McpServerPublic
from dexa.api.schemas.session_mcp import McpAuthStarted, McpServerChange
from dexa.api.schemas.shares import ShareCreated, SharedSession, SharePublic, SharesPublic, SummaryPublic
from dexa.api.schemas.terminal import TerminalTicket

from .request import Operations, operation


class WorkspaceOperations(Operations):
    # ------------------------------------------------------------ files

    @operation("GET", "/sessions/{session_id}/files")
    async def list_files(self, session_id: str, path: str | None = None, *, ignored: bool = False) -> FilesPublic:
        params = {"path": path, "ignored": "true" if ignored else None}
        return await self._call("GET", f"/sessions/{session_id}/files", FilesPublic, params=params)

    @operation("GET", "/sessions/{session_id}/files/content")
    async def read_file(self, session_id: str, path: str, *, max_bytes: int | None = None) -> FileContentPublic:
        params = {"path": path, "max_bytes": max_bytes}
        return await self._call("GET", f"/sessions/{session_id}/files/content", FileContentPublic, params=params)

    @operation("GET", "/sessions/{session_id}/files/search")
    async def search_files(
        self,
        session_id: str,
        pattern: str,
        *,
        path: str | None = None,
        glob: str | None = None,
        ignore_case: bool = False,
        limit: int | None = None,
    ) -> SearchPublic:
        params = {
            "pattern": pattern,
            "path": path,
            "glob": glob,
            "ignore_case": "true" if ignore_case else None,
            "limit": limit,
        }
        return await self._call("GET", f"/sessions/{session_id}/files/search", SearchPublic, params=params)

    @operation("GET", "/sessions/{session_id}/files/symbols")
    async def find_symbols(
        self,
        session_id: str,
        query: str = "",
        *,
        path: str | None = None,
        engine: Literal["auto", "ctags", "regex"] = "auto",
        limit: int | None = None,
    ) -> SymbolsPublic:
        params = {"query": query, "path": path, "engine": engine, "limit": limit}
        return await self._call("GET", f"/sessions/{session_id}/files/symbols", SymbolsPublic, params=params)

    # ------------------------------------------------------------ what the session can call on

    @operation("GET", "/sessions/{session_id}/agents")
    async def session_agents(self, session_id: str) -> AgentsPublic:
        return await self._call("GET", f"/sessions/{session_id}/agents", AgentsPublic)

    @operation("GET", "/sessions/{session_id}/commands")
    async def session_commands(self, session_id: str) -> SkillsPublic:
        return await self._call("GET", f"/sessions/{session_id}/commands", SkillsPublic)

    @operation("GET", "/sessions/{session_id}/skills")
    async def session_skills(self, session_id: str) -> SkillsPublic:
        return await self._call("GET", f"/sessions/{session_id}/skills", SkillsPublic)

    # ------------------------------------------------------------ MCP servers

    @operation("GET", "/sessions/{session_id}/mcp/{name}")
    async def mcp_server(self, session_id: str, name: str) -> McpServerPublic:
        return await self._call("GET", f"/sessions/{session_id}/mcp/{name}", McpServerPublic)

    @operation("POST", "/sessions/{session_id}/mcp")
    async def add_mcp_server(
        self, session_id: str, name: str, config: Mapping[str, Any], *, scope: str = "local"
    ) -> McpServerChange:
        body = {"name": name, "scope": scope, "config": dict(config)}
        return await self._call("POST", f"/sessions/{session_id}/mcp", McpServerChange, json_body=body)

    @operation("DELETE", "/sessions/{session_id}/mcp/{name}")
    async def remove_mcp_server(self, session_id: str, name: str, *, scope: str | None = None) -> None:
        await self._call("DELETE", f"/sessions/{session_id}/mcp/{name}", None, params={"scope": scope})

    @operation("POST", "/sessions/{session_id}/mcp/{name}/auth")
    async def authenticate_mcp_server(self, session_id: str, name: str, *, for_: str | None = None) -> McpAuthStarted:
        body = {} if for_ is None else {"for": for_}
        return await self._call("POST", f"/sessions/{session_id}/mcp/{name}/auth", McpAuthStarted, json_body=body)

    # ------------------------------------------------------------ summaries and share links

    @operation("POST", "/sessions/{session_id}/summarize")
    async def summarize(self, session_id: str) -> SummaryPublic:
        return await self._call("POST", f"/sessions/{session_id}/summarize", SummaryPublic)

    @operation("POST", "/sessions/{session_id}/shares")
    async def create_share(self, session_id: str, *, expires_in_s: int | None = None) -> ShareCreated:
        body = {} if expires_in_s is None else {"expires_in_s": expires_in_s}
        return await self._call("POST", f"/sessions/{session_id}/shares", ShareCreated, json_body=body)

    @operation("GET", "/sessions/{session_id}/shares")
    async def list_shares(self, session_id: str) -> SharesPublic:
        return await self._call("GET", f"/sessions/{session_id}/shares", SharesPublic)

    @operation("DELETE", "/sessions/{session_id}/shares/{share_id}")
    async def revoke_share(self, session_id: str, share_id: str) -> SharePublic:
        return await self._call("DELETE", f"/sessions/{session_id}/shares/{share_id}", SharePublic)

    @operation("GET", "/shared/{token}")
    async def open_share(self, token: str) -> SharedSession:
        return await self._call("GET", f"/shared/{token}", SharedSession)

    @operation("GET", "/shared/{token}/view")
    async def view_share(self, token: str) -> str:
        return (await self._send("GET", f"/shared/{token}/view")).text

    # ------------------------------------------------------------ terminal

    @operation("POST", "/sessions/{session_id}/terminal/tickets")
    async def create_terminal_ticket(self, session_id: str) -> TerminalTicket:
        return await self._call("POST", f"/sessions/{session_id}/terminal/tickets", TerminalTicket)
