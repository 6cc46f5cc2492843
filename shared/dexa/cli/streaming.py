"""`--input-format stream-json`: a long-lived session driven line by line, the way the Agent SDKs drive Claude Code.

Per user line: `session_state_changed: running` (when the SDK asks for state frames), `system/init`, the turn's
messages, one `result`, then `idle`. The SDKs wait for that `result` (and, when they serve hooks or permission
prompts, for `idle`) before sending the next prompt or closing stdin, so a missing one hangs them. Control
requests are answered while a turn runs: `initialize`, `interrupt`, `set_permission_mode`, `set_model`,
`mcp_status`. With `--permission-prompt-tool stdio`, every "ask" becomes a `can_use_tool` request to the SDK.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from typing import Any

from dexa.core.errors import ConfigError, DexaError
from dexa.core.events import Event, EventType
from dexa.core.session import Session
from dexa.headless.turns import TurnRunner, switch_model
from dexa.headless.wire import CLAUDE_CODE_COMPAT, init_message
from dexa.runtime.prompts import prepare_prompt
from dexa.wiring import Runtime

from .control import ControlChannel, ControlError
from .inventory import session_inventory
from .sdk_hooks import SdkHookRunner, parse_sdk_hooks
from .sdk_mcp import SdkMcpServer, SdkMcpTool

PERMISSION_MODES = ("default", "acceptEdits", "plan", "bypassPermissions", "dontAsk", "auto", "manual")
# Set by the SDKs when they want session_state_changed frames (they drop them before the caller sees them).
STATE_ENV = ("CLAUDE_CODE_SDK_READS_SESSION_STATE", "CLAUDE_CODE_EMIT_SESSION_STATE_EVENTS")


def _user_text(msg: dict[str, Any]) -> str:
    content = (msg.get("message") or {}).get("content", "")
    if isinstance(content, list):
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, dict) and p.get("type") == "text")
    return str(content)


def _suggestion(rule: str) -> dict[str, Any]:
    """A Dexa rule suggestion (`Bash(npm test *)`) as the SDK's PermissionUpdate."""
    name, _, rest = rule.partition("(")
    value: dict[str, Any] = {"toolName": name}
    if rest.endswith(")"):
        value["ruleContent"] = rest[:-1]
    return {"type": "addRules", "rules": [value], "behavior": "allow", "destination": "localSettings"}


class _SdkEnvs:
    """The engine's env factory, with the SDK's hook callbacks installed on every environment it hands out
    (an environment rebuilt mid-session keeps them)."""

    def __init__(self, inner: Any, session: StreamSession) -> None:
        self.inner = inner
        self.session = session

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def release(self, session_id: str) -> None:
        await self.inner.release(session_id)

    async def env_for(self, session: Session) -> Any:
        env = await self.inner.env_for(session)
        if self.session.sdk_hooks and not isinstance(env.hooks, SdkHookRunner):
            env.hooks = SdkHookRunner(env.hooks, self.session.channel, self.session.sdk_hooks)
        # The Python SDK names its in-process servers in --mcp-config ("type": "sdk"), the TypeScript SDK in
        # initialize's `sdkMcpServers`: either way they are reached over mcp_message.
        names = [*(session.config.extra.get("sdk_mcp_servers") or []), *self.session.sdk_server_names]
        if names and "sdk_mcp" not in env.services:
            await self.session.add_sdk_servers(env, list(dict.fromkeys(names)))
        return env


class StreamSession:
    def __init__(
        self,
        rt: Runtime,
        session: Session,
        channel: ControlChannel,
        *,
        tools: list[str],
        api_key_source: str,
        partial: bool,
        replay: bool,
        prompt_tool: bool,
        env: dict[str, str],
        fallback_models: tuple[str, ...] = (),
    ) -> None:
        self.rt = rt
        self.session_id = session.id
        self.channel = channel
        self.tools = tools
        self.api_key_source = api_key_source
        self.replay = replay
        self.prompt_tool = prompt_tool
        self.env = env
        self.states = any(env.get(k) for k in STATE_ENV)
        self.sdk_hooks = parse_sdk_hooks(None)
        self._sdk_tools: list[SdkMcpTool] | None = None
        self.sdk_server_names: list[str] = []
        self._sdk_servers: list[SdkMcpServer] = []
        self.turns = TurnRunner(
            rt,
            session.id,
            channel.write,
            partial=partial,
            wait_for_approvals=prompt_tool,
            on_event=self._on_event,
            fallback_models=fallback_models,
            env=env,
        )
        self._asks: set[asyncio.Task[None]] = set()
        channel.before_request = self.turns.catch_up
        channel.handlers.update(
            {
                "initialize": self._initialize,
                "interrupt": self._interrupt,
                "set_permission_mode": self._set_permission_mode,
                "set_model": self._set_model,
                "mcp_status": self._mcp_status,
            }
        )
        rt.engine.envs = _SdkEnvs(rt.engine.envs, self)

    async def add_sdk_servers(self, env: Any, names: list[str]) -> None:
        """The SDK-hosted MCP servers' tools on this env: connected once (after `initialize`), then reused."""
        if self._sdk_tools is None:
            self._sdk_servers = [SdkMcpServer(self.channel, str(n)) for n in names]
            self._sdk_tools = [t for server in self._sdk_servers for t in await server.connect()]
            self.tools += [t.spec.name for t in self._sdk_tools if t.spec.name not in self.tools]
        for tool in self._sdk_tools:
            env.tools.add(tool)
        env.services["sdk_mcp"] = self._sdk_servers

    # ------------------------------------------------------------ the loop

    async def run(self) -> int:
        await self.turns.start()
        last_error = False
        while True:
            msg = await self.channel.inbox.get()
            if msg is None:
                break
            if self.replay:
                self.channel.write(
                    {
                        **msg,
                        "session_id": self.session_id,
                        "uuid": msg.get("uuid") or str(uuid.uuid4()),
                        "isReplay": True,
                    }
                )
            if msg.get("shouldQuery") is False:
                continue  # appended context without a turn: Dexa has no such message, so nothing is run
            result = await self._turn(_user_text(msg))
            last_error = bool(result["is_error"])
        for task in list(self._asks):
            task.cancel()
        return 1 if last_error else 0

    async def _turn(self, text: str) -> dict[str, Any]:
        self._state("running")
        session = await self.rt.store.get_session(self.session_id)
        try:
            inventory = await session_inventory(await self.rt.engine.envs.env_for(session))
        except DexaError:  # the turn below reports the failure as its result
            inventory = {}
        self.channel.write(init_message(session, tools=self.tools, api_key_source=self.api_key_source, **inventory))
        outcome: dict[str, Any] | None
        try:
            env = await self.rt.engine.envs.env_for(session)
            prepared = await prepare_prompt(text, session, env)
            if prepared.text is None:
                cmd = prepared.command
                if cmd is not None and cmd.kind == "builtin" and cmd.name == "compact":
                    await self.rt.engine.compact(session, env, trigger="manual")
                    outcome = {"subtype": "success", "result": "Compacted."}
                else:
                    raise ConfigError(
                        cmd.message
                        if cmd and cmd.message
                        else f"/{cmd.name if cmd else '?'} is only available in the interactive CLI"
                    )
            else:
                await self.rt.engine.submit(self.session_id, prepared.text)
                outcome = await self.turns.drive()
        except ConfigError as exc:
            outcome = {"subtype": "error_during_execution", "error": str(exc)}
        result = await self.turns.result(outcome)
        self.channel.write(result)
        self._state("idle")
        return result

    def _state(self, state: str) -> None:
        if self.states:
            self.channel.write(
                {
                    "type": "system",
                    "subtype": "session_state_changed",
                    "state": state,
                    "sdk_host_only": True,
                    "uuid": str(uuid.uuid4()),
                    "session_id": self.session_id,
                }
            )

    # ------------------------------------------------------------ permission prompts

    def _on_event(self, ev: Event) -> None:
        if ev.type == EventType.PERMISSION_REQUIRED and self.prompt_tool:
            task = asyncio.get_running_loop().create_task(self._ask(ev.data))
            self._asks.add(task)
            task.add_done_callback(self._asks.discard)

    async def _ask(self, data: dict[str, Any]) -> None:
        self._state("requires_action")
        request = {
            "subtype": "can_use_tool",
            "tool_name": data.get("tool_name"),
            "display_name": data.get("tool_name"),
            "input": data.get("input") or {},
            "tool_use_id": data.get("tool_use_id"),
            "permission_suggestions": [_suggestion(r) for r in data.get("suggestions") or [] if isinstance(r, str)],
            "decision_reason": data.get("reason") or None,
        }
        try:
            answer = await self.channel.request(request)
        except ControlError as exc:
            answer = {"behavior": "deny", "message": f"no answer from the SDK: {exc}"}
        self._state("running")
        allow = answer.get("behavior") == "allow"
        updated = answer.get("updatedInput")
        await self.rt.engine.resolve_approval(
            self.session_id,
            str(data["approval_id"]),
            allow=allow,
            scope="once",
            by="sdk",
            message=str(answer.get("message") or ""),
            updated_input=updated if allow and isinstance(updated, dict) else None,
        )
        if not allow and answer.get("interrupt"):
            await self.turns.interrupt()

    # ------------------------------------------------------------ control requests from the SDK

    async def _initialize(self, request: dict[str, Any]) -> dict[str, Any]:
        self.sdk_hooks = parse_sdk_hooks(request.get("hooks"))
        self.sdk_server_names = [str(n) for n in request.get("sdkMcpServers") or []]
        session = await self.rt.store.get_session(self.session_id)
        return {
            "commands": [],
            "agents": [],
            "output_style": "default",
            "available_output_styles": ["default"],
            "models": [],
            "account": {"tokenSource": "none", "apiKeySource": self.api_key_source, "apiProvider": "firstParty"},
            "pid": os.getpid(),
            "claude_code_version": CLAUDE_CODE_COMPAT,
            "current_permission_mode": session.permission_mode,
            "hooks_applied": True,
            "session_state": "idle",
        }

    async def _interrupt(self, request: dict[str, Any]) -> dict[str, Any]:
        await self.turns.interrupt()
        return {"still_queued": []}

    async def _set_permission_mode(self, request: dict[str, Any]) -> dict[str, Any]:
        mode = str(request.get("mode", ""))
        if mode not in PERMISSION_MODES:
            raise ConfigError(f"Invalid permission mode {mode!r}: use one of {', '.join(PERMISSION_MODES)}")
        await self.rt.engine.set_mode(self.session_id, "default" if mode == "manual" else mode)
        return {}

    async def _set_model(self, request: dict[str, Any]) -> dict[str, Any]:
        await switch_model(
            self.rt, self.session_id, str(request.get("model") or self.rt.settings.default_model), self.env
        )
        return {}

    async def _mcp_status(self, request: dict[str, Any]) -> dict[str, Any]:
        return {"mcpServers": []}
