"""Run the hooks that match an event, in parallel, and fold their answers into one `HookOutcome`.

Implements `dexa.core.ports.HookRunner`. A repository's own hooks (project and local scope) are untrusted code:
they run through `sandbox_executor` (the session's workspace sandbox, `workspace_executor`) with the sandbox's
environment, never the server's. The user's own hooks (user, managed, command-line scope) run through `executor`
(default: a local `bash -c` subprocess with a minimal environment); a hosted runner sends every hook to the
sandbox. `http` hooks POST the same JSON with httpx; their headers interpolate only variables that both the hook
lists and the policy allows. A hook never raises into the session: failures, timeouts and bad output become
non-blocking errors reported through `on_result` and `run_detailed`.
"""

from __future__ import annotations

import asyncio
import fnmatch
import json
import logging
import os
import re
import shlex
import signal
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from dexa.config.hooks import TOOL_EVENTS, HookHandler, HooksConfig
from dexa.core import tracing
from dexa.core.ports import HookOutcome
from dexa.core.tools import TOOL_ALIASES

from .protocol import HookResult, interpret_command, interpret_http, merge

if TYPE_CHECKING:
    import httpx

    from dexa.config.settings import EffectiveSettings
    from dexa.core.ports import Workspace

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 600.0  # command/http default since Claude Code 2.1.x (older docs: 60 s)
USER_PROMPT_TIMEOUT_S = 30.0
SESSION_END_BUDGET_S = 1.5
_HOST_ENV_KEYS = ("PATH", "HOME", "LANG", "LC_ALL", "TERM", "TMPDIR", "USER")
# Hooks from these scopes come from the repository, so they run in the workspace sandbox.
REPO_SCOPES = frozenset({"project", "local"})
_MAX_OUTPUT = 1_000_000
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)")
# Which payload field a matcher filters on, per event (reference §3.2).
_MATCH_FIELD = {
    "PreToolUse": "tool_name",
    "PostToolUse": "tool_name",
    "PermissionRequest": "tool_name",
    "SessionStart": "source",
    "SessionEnd": "reason",
    "PreCompact": "trigger",
    "Notification": "notification_type",
    "SubagentStop": "agent_type",
}


class Executor(Protocol):
    """Run a shell command; raise TimeoutError when it outlives `timeout` (the process must be gone by then)."""

    def __call__(
        self, command: str, *, cwd: str, env: Mapping[str, str], stdin: bytes, timeout: float
    ) -> Awaitable[tuple[int, str, str]]: ...


async def subprocess_executor(
    command: str, *, cwd: str, env: Mapping[str, str], stdin: bytes, timeout: float
) -> tuple[int, str, str]:
    """`bash -c command` in its own session (no controlling terminal); the whole group is killed on timeout."""
    proc = await asyncio.create_subprocess_exec(
        "bash",
        "-c",
        command,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=cwd,
        env=dict(env),
        start_new_session=True,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(stdin), timeout)
    except (TimeoutError, asyncio.CancelledError):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        await proc.wait()
        raise
    code = proc.returncode if proc.returncode is not None else -1
    return code, out[:_MAX_OUTPUT].decode(errors="replace"), err[:_MAX_OUTPUT].decode(errors="replace")


def workspace_executor(workspace: Workspace) -> Executor:
    """Run hooks inside the session's Dexa Workspace (its sandbox), the payload on the command's stdin."""

    async def run(
        command: str, *, cwd: str, env: Mapping[str, str], stdin: bytes, timeout: float
    ) -> tuple[int, str, str]:
        result = await workspace.exec(command, cwd=cwd, timeout_s=timeout, env=env, stdin=stdin)
        if result.timed_out:
            raise TimeoutError(command)
        return result.exit_code, result.stdout, result.stderr

    return run


@dataclass(frozen=True, slots=True)
class HookRun:
    outcome: HookOutcome
    results: tuple[HookResult, ...]


class SettingsHookRunner:
    """The hooks of one session, from its settings."""

    def __init__(
        self,
        config: HooksConfig,
        *,
        project_dir: str,
        session_id: str = "",
        transcript_path: str = "",
        permission_mode: str | Callable[[], str] = "default",
        hosted: bool = False,
        settings_env: Mapping[str, str] | None = None,
        host_settings_env: Mapping[str, str] | None = None,
        host_env: Mapping[str, str] | None = None,
        executor: Executor | None = None,
        sandbox_executor: Executor | None = None,
        header_env_allowlist: Sequence[str] = (),
        http_transport: httpx.AsyncBaseTransport | None = None,
        sandbox_http_transport: httpx.AsyncBaseTransport | None = None,
        allowed_http_urls: Sequence[str] | None = None,
        default_timeout_s: float | None = None,
        env_file: str | None = None,
        home: str | None = None,
        on_result: Callable[[HookResult], Awaitable[None]] | None = None,
    ) -> None:
        self.config = config
        self.project_dir = os.path.abspath(project_dir)
        self.session_id = session_id
        self.transcript_path = transcript_path
        self._mode = permission_mode
        self.hosted = hosted
        self._settings_env = dict(settings_env or {})
        # A repository's `env` (LD_PRELOAD...) must never reach a process on the host.
        self._host_settings_env = dict(self._settings_env if host_settings_env is None else host_settings_env)
        self._host_env = dict(os.environ if host_env is None else host_env)
        self._executor: Executor = executor or subprocess_executor
        self._sandbox_executor = sandbox_executor
        self._header_allowlist = frozenset(header_env_allowlist)
        self._transport = http_transport
        # A repository's http hooks leave through the session's egress policy (no loopback, no control plane).
        self._sandbox_transport = sandbox_http_transport
        self._allowed_urls = tuple(allowed_http_urls) if allowed_http_urls is not None else None
        self._default_timeout = default_timeout_s
        self._env_file = env_file
        self._home = home or self._host_env.get("HOME") or os.path.expanduser("~")
        self._on_result = on_result

    @classmethod
    def from_settings(cls, settings: EffectiveSettings, **kwargs: Any) -> SettingsHookRunner:
        kwargs.setdefault("project_dir", settings.cwd)
        kwargs.setdefault("settings_env", settings.env)
        kwargs.setdefault("allowed_http_urls", settings.allowed_http_hook_urls)
        kwargs.setdefault("home", settings.home)
        return cls(settings.hooks, **kwargs)

    @property
    def permission_mode(self) -> str:
        return self._mode() if callable(self._mode) else self._mode

    async def run(self, event: str, payload: Mapping[str, Any], *, match: str | None = None) -> HookOutcome:
        return (await self.run_detailed(event, payload, match=match)).outcome

    async def run_detailed(self, event: str, payload: Mapping[str, Any], *, match: str | None = None) -> HookRun:
        body = self.build_payload(event, payload)
        handlers = self._select(event, body, match)
        if not handlers:
            return HookRun(HookOutcome(), ())
        stdin = json.dumps(body).encode()
        attrs = {"dexa.hook.event": event, "dexa.hook.match": match, "dexa.hook.handlers": len(handlers)}
        with tracing.span(f"dexa.hook {event}", attrs) as span:
            results = await asyncio.gather(*(self._run_one(event, h, body, stdin, handlers) for h in handlers))
            span.set("dexa.hook.blocked", any(r.blocked for r in results))
        for result in results:
            if result.error:
                logger.warning("%s", result.error)
            if self._on_result is not None:
                try:
                    await self._on_result(result)
                except Exception:  # a broken reporter must not break the turn
                    logger.exception("hook result reporter failed")
        return HookRun(merge(results), tuple(results))

    def build_payload(self, event: str, payload: Mapping[str, Any]) -> dict[str, Any]:
        body: dict[str, Any] = {
            "session_id": self.session_id,
            "transcript_path": self.transcript_path,
            "cwd": self.project_dir,
            "hook_event_name": event,
            "permission_mode": self.permission_mode,
        }
        body.update(payload)
        body["hook_event_name"] = event
        return body

    def _select(self, event: str, body: Mapping[str, Any], match: str | None) -> list[HookHandler]:
        target = match if match is not None else body.get(_MATCH_FIELD.get(event, ""))
        targets = _aliases(str(target)) if target is not None else [None]
        seen: set[tuple[Any, ...]] = set()
        chosen: list[HookHandler] = []
        for candidate in targets:
            for handler in self.config.handlers_for(event, candidate):
                if handler.identity() not in seen and self._if_allows(event, handler, body):
                    seen.add(handler.identity())
                    chosen.append(handler)
        return chosen

    def _if_allows(self, event: str, handler: HookHandler, body: Mapping[str, Any]) -> bool:
        if handler.if_rule is None:
            return True
        if event not in TOOL_EVENTS:
            return False  # reference §3.1: a handler with `if` never runs on non-tool events
        from dexa.permissions.engine import matches_rule

        raw_input = body.get("tool_input")
        tool_input: Mapping[str, Any] = raw_input if isinstance(raw_input, Mapping) else {}
        cwd = str(body.get("cwd") or self.project_dir)
        return matches_rule(handler.if_rule, str(body.get("tool_name", "")), tool_input, cwd=cwd, home=self._home)

    def _timeout(self, event: str, handler: HookHandler, handlers: Sequence[HookHandler]) -> float:
        if event == "SessionEnd":
            configured = [h.timeout for h in handlers if h.timeout]
            return min(60.0, max([SESSION_END_BUDGET_S, *configured]))
        if handler.timeout:
            return handler.timeout
        if self._default_timeout:
            return self._default_timeout
        return USER_PROMPT_TIMEOUT_S if event == "UserPromptSubmit" else DEFAULT_TIMEOUT_S

    def sandboxed(self, handler: HookHandler) -> bool:
        """Does this handler run in the workspace sandbox? Repository hooks always; every hook when hosted."""
        return self.hosted or handler.scope in REPO_SCOPES

    def hook_env(self, event: str, *, sandboxed: bool = False) -> dict[str, str]:
        """Never the host's secrets: the settings `env` and the hook variables, plus a few basics on the host
        (in the sandbox, the sandbox supplies PATH, HOME and the rest)."""
        env = {} if sandboxed else {k: self._host_env[k] for k in _HOST_ENV_KEYS if k in self._host_env}
        if not sandboxed:
            env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
        env.update(self._settings_env if sandboxed else self._host_settings_env)
        env["CLAUDE_PROJECT_DIR"] = self.project_dir
        if self.hosted:
            env["DEXA_REMOTE"] = "1"
            env["CLAUDE_CODE_REMOTE"] = "true"
        if self._env_file and event == "SessionStart":
            env["CLAUDE_ENV_FILE"] = self._env_file
        return env

    async def _run_one(
        self, event: str, handler: HookHandler, body: Mapping[str, Any], stdin: bytes, handlers: Sequence[HookHandler]
    ) -> HookResult:
        result = HookResult(handler=handler, event=event)
        timeout = self._timeout(event, handler, handlers)
        started = time.monotonic()
        try:
            if handler.type == "command":
                await self._run_command(result, handler, stdin, timeout, event)
            else:
                await self._run_http(result, handler, body, timeout, event)
        except Exception as exc:  # any failure of one hook is that hook's non-blocking error
            result.error = f"{event} hook failed to run: {type(exc).__name__}: {exc}"
        result.duration_ms = int((time.monotonic() - started) * 1000)
        return result

    async def _run_command(
        self, result: HookResult, handler: HookHandler, stdin: bytes, timeout: float, event: str
    ) -> None:
        command = handler.command
        if handler.args is not None:
            # Exec form: placeholders substituted literally, no shell interpretation of the arguments.
            parts = [_substitute(p, self.project_dir) for p in (command, *handler.args)]
            command = shlex.join(parts)
        sandboxed = self.sandboxed(handler)
        executor = self._sandbox_executor if sandboxed else self._executor
        if executor is None:
            result.error = (
                f"{event} hook from {handler.source} is repository code and this session has no sandbox to run it "
                "in; skipped"
            )
            return
        try:
            code, out, err = await executor(
                command,
                cwd=self.project_dir,
                env=self.hook_env(event, sandboxed=sandboxed),
                stdin=stdin,
                timeout=timeout,
            )
        except TimeoutError:
            result.timed_out = True
        else:
            result.exit_code, result.stdout, result.stderr = code, out, err
        interpret_command(result)

    async def _run_http(
        self, result: HookResult, handler: HookHandler, body: Mapping[str, Any], timeout: float, event: str
    ) -> None:
        if self._allowed_urls is not None and not any(fnmatch.fnmatchcase(handler.url, p) for p in self._allowed_urls):
            result.error = f"{event} http hook {handler.url} is not in allowedHttpHookUrls; skipped"
            return
        # The user's own hooks on their own machine interpolate what they list (Claude Code); anything else only
        # what the policy allowlists too, so a repository cannot choose which server variables leave the building.
        allowed = handler.allowed_env_vars
        if self.sandboxed(handler):
            allowed = tuple(v for v in allowed if v in self._header_allowlist)
        headers = {k: _interpolate(v, self._host_env, allowed) for k, v in handler.headers}
        import httpx  # here, not at the top: only http hooks use it, and it costs a cold start ~0.1 s

        try:
            transport = self._sandbox_transport if self.sandboxed(handler) else self._transport
            if transport is None and self.sandboxed(handler):
                result.error = f"{event} http hook {handler.url}: no egress policy for repository hooks; skipped"
                return
            async with httpx.AsyncClient(transport=transport, timeout=timeout, trust_env=False) as client:
                response = await client.post(handler.url, json=dict(body), headers=headers)
        except httpx.TimeoutException:
            result.timed_out = True
            interpret_http(result, 0, "")
            return
        except httpx.HTTPError as exc:
            result.error = f"{event} http hook {handler.url} failed: {type(exc).__name__}: {exc}"
            return
        interpret_http(result, response.status_code, response.text)


def _aliases(name: str) -> list[str]:
    """A matcher written for either spelling (`Agent`/`Task`, `TaskStop`/`KillShell`...) hits the call."""
    names = [name]
    canonical = TOOL_ALIASES.get(name, name)
    names.extend(n for n in (canonical, *(k for k, v in TOOL_ALIASES.items() if v == canonical)) if n not in names)
    return names


def _substitute(text: str, project_dir: str) -> str:
    return text.replace("${CLAUDE_PROJECT_DIR}", project_dir).replace("$CLAUDE_PROJECT_DIR", project_dir)


def _interpolate(value: str, env: Mapping[str, str], allowed: Sequence[str]) -> str:
    """`$VAR`/`${VAR}` in http hook headers, only for the variables the hook lists in allowedEnvVars."""

    def repl(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2)
        return env.get(name, "") if name in allowed else m.group(0)

    return _VAR.sub(repl, value)
