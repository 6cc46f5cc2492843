"""Bash, BashOutput (alias TaskOutput) and KillShell (aliases TaskStop, KillBash)."""

from __future__ import annotations

import logging
import os
import re
import shlex
import uuid
from typing import Any

from dexa.core.errors import DexaError, ToolError
from dexa.core.ports import BackgroundJob, ExecResult, ToolSpec, Workspace
from dexa.core.tools import ToolContext, ToolOutput

from .files import with_memory
from .validate import BaseTool, RerunOnRecover, check_input

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT_MS = 120_000
MAX_TIMEOUT_MS = 600_000
MAX_OUTPUT_CHARS = 30_000
# Exit status 1 means "nothing found / differs", not failure, for these (Claude Code's list).
_EXIT_1_OK = {"grep", "rg", "egrep", "fgrep", "find", "diff", "test", "["}
_OFFSETS_NS = "bash_output_offsets"


def truncate_output(text: str, limit: int = MAX_OUTPUT_CHARS) -> str:
    """Head and tail with a notice in between: the start shows what ran, the end usually shows why it failed."""
    if len(text) <= limit:
        return text
    half = limit // 2
    return f"{text[:half]}\n\n... [{len(text) - 2 * half} characters truncated] ...\n\n{text[-half:]}"


def _normal(path: str) -> str:
    return os.path.realpath(path)


def _inside(ws: Workspace, path: str) -> bool:
    for root in (ws.root, *ws.extra_roots):
        if path == root or path.startswith(root.rstrip("/") + "/"):
            return True
    return False


async def session_cwd(ctx: ToolContext) -> tuple[str, str]:
    """The session's shell cwd, or the workspace root (with a note) when it vanished or left the roots."""
    ws = ctx.workspace
    cwd = _normal(ctx.state.cwd or ws.root)
    if _inside(ws, cwd) and await ws.is_dir(cwd):
        return cwd, ""
    ctx.state.cwd = ws.root
    return ws.root, f"Shell cwd was reset to {ws.root}"


def _benign_exit(command: str, code: int) -> bool:
    words = command.strip().split()
    first = words[0] if words else ""
    return code == 1 and (first in _EXIT_1_OK or command.strip().startswith(("git diff", "git grep")))


_READERS = frozenset({"cat", "head", "tail", "less", "more", "nl", "bat", "batcat"})


def read_targets(command: str, cwd: str) -> list[str]:
    """The files a plain `cat`/`head`/`tail`… command reads (none for anything more complex), as absolute paths."""
    if re.search(r"[|;&<>`$(){}\n]", command):
        return []
    try:
        words = shlex.split(command)
    except ValueError:
        return []
    if not words or words[0] not in _READERS:
        return []
    return [os.path.normpath(os.path.join(cwd, w)) for w in words[1:] if not w.startswith("-") and not w.isdigit()]


def render_exec(result: ExecResult, command: str, timeout_ms: int, notes: list[str]) -> ToolOutput:
    stdout, stderr = result.stdout.rstrip("\n"), result.stderr.rstrip("\n")
    text = stdout + ("\n" if stdout and stderr else "") + stderr
    interpretation = ""
    if result.timed_out:
        text += f"\nCommand timed out after {timeout_ms / 1000:g}s and was killed."
    elif result.exit_code != 0:
        if _benign_exit(command, result.exit_code):
            interpretation = "No matches found" if command.split()[0] in {"grep", "rg", "egrep", "fgrep"} else ""
        text += f"\nExit code {result.exit_code}"
    content = truncate_output(text.strip("\n")) or "(no output)"
    if notes:
        content += "\n" + "\n".join(notes)
    is_error = result.timed_out or (result.exit_code != 0 and not _benign_exit(command, result.exit_code))
    return ToolOutput(
        content=content,
        is_error=is_error,
        data={
            "stdout": truncate_output(result.stdout),
            "stderr": truncate_output(result.stderr),
            "exit_code": result.exit_code,
            "interrupted": result.timed_out,
            "cwd": result.cwd,
            "duration_ms": result.duration_ms,
            "returnCodeInterpretation": interpretation or None,
        },
    )


class Bash(BaseTool):
    spec = ToolSpec(
        name="Bash",
        description=(
            "Runs a bash command in the session's sandboxed workspace and returns its output (stdout, then stderr) "
            "and the exit code when it is not 0. The working directory persists between calls (`cd` carries over, "
            "within the workspace); environment variables do not. No network unless the session allows it. "
            "timeout is in milliseconds (default 120000, max 600000). Output over 30000 characters is truncated. "
            "Set run_in_background for long-running processes (servers, watchers) and read their output later with "
            "BashOutput; stop them with KillShell. Prefer Read/Grep/Glob/Edit over cat/grep/find/sed."
        ),
        input_schema={
            "type": "object",
            "properties": {
                "command": {"type": "string", "description": "The command to execute"},
                "timeout": {"type": "number", "description": "Optional timeout in milliseconds (max 600000)"},
                "description": {"type": "string", "description": "What this command does, in 5-10 words"},
                "run_in_background": {"type": "boolean", "description": "Run the command in the background"},
                "dangerouslyDisableSandbox": {"type": "boolean", "description": "Not supported: always sandboxed"},
            },
            "required": ["command"],
        },
    )

    async def _prepare(self, tool_input: dict[str, Any], ctx: ToolContext) -> tuple[str, int, list[str], str]:
        command: str = tool_input["command"]
        if not command.strip():
            raise ToolError("`command` must not be empty")
        timeout_ms = int(tool_input.get("timeout") or DEFAULT_TIMEOUT_MS)
        if timeout_ms <= 0:
            raise ToolError(f"`timeout` must be a positive number of milliseconds, got {timeout_ms}")
        notes: list[str] = []
        if timeout_ms > MAX_TIMEOUT_MS:
            notes.append(f"(timeout capped at {MAX_TIMEOUT_MS} ms)")
            timeout_ms = MAX_TIMEOUT_MS
        if tool_input.get("dangerouslyDisableSandbox"):
            notes.append("(dangerouslyDisableSandbox is not supported here; the command ran in the sandbox)")
        cwd, note = await session_cwd(ctx)
        if note:
            notes.append(note)
        return command, timeout_ms, notes, cwd

    def _finish(
        self, ctx: ToolContext, result: ExecResult, command: str, timeout_ms: int, notes: list[str], cwd: str
    ) -> ToolOutput:
        ws = ctx.workspace
        if result.cwd and result.cwd != cwd:
            new_cwd = _normal(result.cwd)
            if _inside(ws, new_cwd):
                ctx.state.cwd = new_cwd
            else:
                ctx.state.cwd = ws.root
                notes.append(f"Shell cwd was reset to {ws.root}")
        return render_exec(result, command, timeout_ms, notes)

    async def call(self, tool_input: dict[str, Any], ctx: ToolContext) -> ToolOutput:
        command, timeout_ms, notes, cwd = await self._prepare(tool_input, ctx)
        if tool_input.get("run_in_background"):
            return await self._background(ctx, command, cwd, notes)
        result = await ctx.workspace.exec(
            command,
            cwd=cwd,
            timeout_s=timeout_ms / 1000,
            job_id=ctx.tool_use_id or None,
            env=ctx.services.get("command_env") or None,
        )
        output = self._finish(ctx, result, command, timeout_ms, notes, cwd)
        targets = read_targets(command, cwd)
        if targets and result.exit_code == 0:
            output.content = await with_memory(ctx, output.content, *targets)
        return output

    async def recover(self, tool_input: dict[str, Any], ctx: ToolContext) -> ToolOutput | None:
        """After a crash: the journaled result of this call (waiting if it still runs), or None when the command
        never started, so the engine may run it now. Starting a background job is idempotent by its id."""
        if tool_input.get("run_in_background") or check_input(self.spec, tool_input) is not None:
            return await self.run(tool_input, ctx)
        if not ctx.tool_use_id:
            return None
        try:
            command, timeout_ms, notes, cwd = await self._prepare(tool_input, ctx)
            result = await ctx.workspace.recover(ctx.tool_use_id, wait_s=timeout_ms / 1000)
        except (DexaError, OSError) as exc:
            return ToolOutput(content=f"Bash could not recover the result of its command: {exc}", is_error=True)
        if result is None:
            return None
        return self._finish(ctx, result, command, timeout_ms, notes, cwd)

    async def _background(self, ctx: ToolContext, command: str, cwd: str, notes: list[str]) -> ToolOutput:
        job_id = ctx.tool_use_id or f"bash_{uuid.uuid4().hex[:12]}"
        await ctx.workspace.start_background(command, cwd=cwd, job_id=job_id)
        if job_id not in ctx.state.background_jobs:
            ctx.state.background_jobs.append(job_id)
        content = (
            f"Command running in background with ID: {job_id}. Read its output with BashOutput "
            f"(bash_id: {job_id}) and stop it with KillShell (shell_id: {job_id})."
        )
        if notes:
            content += "\n" + "\n".join(notes)
        return ToolOutput(
            content=content,
            data={"backgroundTaskId": job_id, "stdout": "", "stderr": "", "interrupted": False},
        )


def _job_id(tool_input: dict[str, Any], ctx: ToolContext, *keys: str) -> str:
    for key in keys:
        value = tool_input.get(key)
        if isinstance(value, str) and value:
            if value not in ctx.state.background_jobs:
                known = ", ".join(ctx.state.background_jobs) or "none"
                raise ToolError(f"No background shell with id {value!r} in this session (known: {known})")
            return value
    raise ToolError(f"Provide the background shell id as `{keys[0]}` (or `{keys[1]}`)")


def _status(job: BackgroundJob) -> str:
    if job.running:
        return "running"
    return "completed" if job.exit_code == 0 else ("killed" if job.exit_code == 137 else "failed")


async def _load_offset(ctx: ToolContext, job_id: str) -> int:
    try:
        doc = await ctx.kv.kv_get(_OFFSETS_NS, f"{ctx.session_id}:{job_id}", org_id=ctx.org_id)
    except (DexaError, OSError):  # the offset is a convenience; a store hiccup must not fail the call
        logger.warning("could not load output offset for %s", job_id, exc_info=True)
        return 0
    return int((doc or {}).get("offset", 0))


async def _save_offset(ctx: ToolContext, job_id: str, offset: int) -> None:
    try:
        await ctx.kv.kv_put(_OFFSETS_NS, f"{ctx.session_id}:{job_id}", {"offset": offset}, org_id=ctx.org_id)
    except (DexaError, OSError):
        logger.warning("could not save output offset for %s", job_id, exc_info=True)


class BashOutput(RerunOnRecover, BaseTool):
    read_only = True
    spec = ToolSpec(
        name="BashOutput",
        description=(
            "Returns the new output of a background shell started with Bash run_in_background, since the last "
            "check, with its status (running, completed, failed, killed) and exit code. Give its id as bash_id "
            "(or task_id). Set block to wait for it to finish (up to timeout ms, default 30000). filter keeps only "
            "output lines matching a regular expression."
        ),
        input_schema={
            "type": "object",
            "properties": {
                "bash_id": {"type": "string", "description": "The id of the background shell"},
                "task_id": {"type": "string", "description": "Same as bash_id (TaskOutput name)"},
                "block": {"type": "boolean", "description": "Wait for the shell to finish (default false)"},
                "timeout": {"type": "number", "description": "Max wait in ms when blocking (default 30000)"},
                "filter": {"type": "string", "description": "Regex: only return matching output lines"},
            },
        },
    )

    async def call(self, tool_input: dict[str, Any], ctx: ToolContext) -> ToolOutput:
        job_id = _job_id(tool_input, ctx, "bash_id", "task_id")
        pattern = None
        if tool_input.get("filter"):
            try:
                pattern = re.compile(tool_input["filter"])
            except re.error as exc:
                raise ToolError(f"Invalid `filter` regular expression: {exc}") from exc
        wait_s = float(tool_input.get("timeout") or 30_000) / 1000 if tool_input.get("block") else 0.0
        since = await _load_offset(ctx, job_id)
        job = await ctx.workspace.poll_background(job_id, since=since, wait_s=min(wait_s, MAX_TIMEOUT_MS / 1000))
        await _save_offset(ctx, job_id, job.output_offset)
        output = job.output
        if pattern is not None:
            output = "\n".join(line for line in output.splitlines() if pattern.search(line))
        status = _status(job)
        parts = [f"<status>{status}</status>"]
        if job.exit_code is not None:
            parts.append(f"<exit_code>{job.exit_code}</exit_code>")
        parts.append(f"<output>\n{truncate_output(output.rstrip())}\n</output>" if output.strip() else "<output/>")
        return ToolOutput(
            content="\n\n".join(parts),
            data={"task_id": job_id, "status": status, "exit_code": job.exit_code, "output": truncate_output(output)},
        )


class KillShell(RerunOnRecover, BaseTool):
    spec = ToolSpec(
        name="KillShell",
        description=(
            "Stops a background shell started with Bash run_in_background. Give its id as shell_id (or task_id)."
        ),
        input_schema={
            "type": "object",
            "properties": {
                "shell_id": {"type": "string", "description": "The id of the background shell to kill"},
                "task_id": {"type": "string", "description": "Same as shell_id (TaskStop name)"},
            },
        },
    )

    async def call(self, tool_input: dict[str, Any], ctx: ToolContext) -> ToolOutput:
        job_id = _job_id(tool_input, ctx, "shell_id", "task_id")
        before = await ctx.workspace.poll_background(job_id, since=0)
        if not before.running:
            return ToolOutput(
                content=f"Shell {job_id} is not running ({_status(before)}, exit code {before.exit_code}).",
                data={"task_id": job_id, "status": _status(before), "exit_code": before.exit_code},
            )
        job = await ctx.workspace.kill_background(job_id)
        return ToolOutput(
            content=f"Successfully killed shell: {job_id} ({job.command})",
            data={"task_id": job_id, "status": "killed", "exit_code": job.exit_code},
        )
