"""What the stream-json `system`/`init` message lists besides tools, as Claude Code does: MCP servers with their
status, slash commands (built-ins, skills, commands, MCP prompts), skills and agents.

A server that failed to start is also reported on stderr, one line each, since the session goes on without it.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, TextIO

from dexa.core.errors import DexaError

logger = logging.getLogger(__name__)

# MCP prompts come from live servers; a slow one must not hold the init message back.
PROMPT_LIST_TIMEOUT_S = 5.0


async def session_inventory(env: Any, *, err: TextIO | None = None) -> dict[str, Any]:
    """Keyword arguments for `init_message`, read from a built session env (its services)."""
    from dexa.commands import BUILTIN_COMMANDS

    services: dict[str, Any] = getattr(env, "services", {}) or {}
    registry = services.get("skills")
    skills = list(registry.all()) if registry is not None else []
    slash = list(dict.fromkeys([*(s.name for s in skills if s.user_invocable), *BUILTIN_COMMANDS]))
    runner = services.get("subagents")
    agents = runner.agents.names() if runner is not None and getattr(runner, "agents", None) is not None else []
    out: dict[str, Any] = {
        "slash_commands": slash,
        "skills": [s.name for s in skills if getattr(s, "kind", "skill") == "skill"],
        "agents": list(agents),
    }
    manager = services.get("mcp")
    sdk_servers = [s.status_entry() for s in services.get("sdk_mcp") or []]  # hosted by the Agent SDK program
    if manager is None:
        out["mcp_servers"] = sdk_servers
        return out
    out["mcp_servers"] = manager.statuses() + sdk_servers
    skipped = skipped_servers(manager.problems, loaded=set(manager.names()))
    if skipped:
        out["mcp_server_errors"] = skipped
    for failure in manager.failures():
        if err is not None:
            message = " ".join(failure["message"].split())
            err.write(f"dexa: MCP server {failure['name']!r} failed to start: {message}\n")
            err.flush()
    out["slash_commands"] += await _prompt_commands(manager)
    return out


async def _prompt_commands(manager: Any) -> list[str]:
    """`mcp__<server>__<prompt>` for every connected server that has prompts (Claude Code lists them last)."""
    names: list[str] = []
    for status in manager.statuses():
        if status["status"] != "connected":
            continue
        try:
            prompts = await asyncio.wait_for(manager.list_prompts(status["name"]), PROMPT_LIST_TIMEOUT_S)
        except (DexaError, TimeoutError) as exc:
            logger.info("could not list prompts of %s: %s", status["name"], exc)
            continue
        names += [str(p["command"]).removeprefix("/") for p in prompts]
    return names


def skipped_servers(problems: list[Any], *, loaded: set[str]) -> list[dict[str, str]]:
    """Claude Code's `mcp_server_errors`: entries left out because they are invalid (others still load)."""
    out: list[dict[str, str]] = []
    for problem in problems:
        key = str(getattr(problem, "key", ""))
        if not key.startswith("mcpServers.") or key.removeprefix("mcpServers.") in loaded:
            continue
        name, message = key.removeprefix("mcpServers."), str(problem.message)
        if message.startswith("url_missing_type"):
            text = (
                f'Skipped — MCP server "{name}" has a "url" but no "type"; add "type": "http" (or "sse") to this entry'
            )
            out.append({"name": name, "type": "url_missing_type", "message": text})
        else:
            text = f'Skipped — invalid MCP server config for "{name}": {message}'
            out.append({"name": name, "type": "invalid_config", "message": text})
    return out
