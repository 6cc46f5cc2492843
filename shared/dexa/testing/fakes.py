"""Small fakes for functional tests: an unsandboxed workspace over a temp dir and simple ports."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dexa.core.environment import SessionEnv
from dexa.core.ports import BackgroundJob, ExecResult, PermissionDecision, ToolSpec
from dexa.core.session import Session
from dexa.core.tools import SessionState, ToolContext, ToolOutput


class DirWorkspace:
    """Plain-subprocess workspace over a directory. For tests only: it does not isolate anything."""

    def __init__(self, root: str | Path) -> None:
        self.root = str(Path(root).resolve())
        self.jobs: dict[str, ExecResult] = {}

    @property
    def extra_roots(self) -> tuple[str, ...]:
        return ()

    async def exec(self, command: str, *, cwd: str, timeout_s: float = 120.0, env: Mapping[str, str] | None = None,
                   job_id: str | None = None, stdin: bytes | None = None) -> ExecResult:
        # bash, as the real sandboxes run commands (the Grep tool's rg pipeline reads ${PIPESTATUS[0]}).
        proc = await asyncio.create_subprocess_shell(command, cwd=cwd, executable="/bin/bash",
                                                     stdout=asyncio.subprocess.PIPE,
                                                     stderr=asyncio.subprocess.PIPE,
                                                     stdin=asyncio.subprocess.PIPE if stdin is not None else None,
                                                     env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                                                          **(env or {})})
        out, errb = await asyncio.wait_for(proc.communicate(stdin), timeout_s)
        result = ExecResult(exit_code=proc.returncode or 0, stdout=out.decode(), stderr=errb.decode(), cwd=cwd)
        if job_id:
            self.jobs[job_id] = result
        return result

    async def recover(self, job_id: str, *, wait_s: float = 600.0) -> ExecResult | None:
        return self.jobs.get(job_id)

    async def start_background(self, command: str, *, cwd: str, job_id: str) -> BackgroundJob:
        raise NotImplementedError

    async def poll_background(self, job_id: str, *, since: int = 0, wait_s: float = 0.0) -> BackgroundJob:
        raise NotImplementedError

    async def kill_background(self, job_id: str) -> BackgroundJob:
        raise NotImplementedError

    async def read_bytes(self, path: str) -> bytes:
        return Path(path).read_bytes()

    async def write_bytes(self, path: str, data: bytes) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_bytes(data)

    async def exists(self, path: str) -> bool:
        return Path(path).exists()

    async def is_dir(self, path: str) -> bool:
        return Path(path).is_dir()

    async def remove(self, path: str) -> None:
        Path(path).unlink(missing_ok=True)

    async def walk(self, root: str) -> list[str]:
        return [str(p) for p in Path(root).rglob("*") if p.is_file()]

    async def close(self) -> None:
        return None


@dataclass
class RulePolicy:
    """allow/ask/deny by bare tool name; everything else allowed. Enough to exercise the engine."""

    allow: set[str] = field(default_factory=set)
    ask: set[str] = field(default_factory=set)
    deny: set[str] = field(default_factory=set)

    def decide(self, tool_name: str, tool_input: Mapping[str, Any], *, mode: str, cwd: str) -> PermissionDecision:
        for behavior, names in (("deny", self.deny), ("ask", self.ask), ("allow", self.allow)):
            if tool_name in names:
                return PermissionDecision(behavior=behavior, rule=tool_name, source="test",  # type: ignore[arg-type]
                                          reason=f"{behavior} by test rule {tool_name}")
        return PermissionDecision(behavior="allow", rule=None, source="test-default", reason="allowed by default")


class AppendTool:
    """Appends a line to a file: a visible side effect, so tests can count executions."""

    read_only = False

    def __init__(self) -> None:
        self.spec = ToolSpec(name="Append", description="Append a line to a file",
                             input_schema={"type": "object", "properties": {"path": {"type": "string"},
                                                                            "line": {"type": "string"}},
                                           "required": ["path", "line"]})
        self.runs = 0

    async def run(self, tool_input: dict[str, Any], ctx: ToolContext) -> ToolOutput:
        self.runs += 1
        path = Path(ctx.workspace.root) / tool_input["path"]
        with path.open("a") as fh:
            fh.write(tool_input["line"] + "\n")
        return ToolOutput(content=f"appended to {tool_input['path']}")


class StaticEnvs:
    """An EnvFactory returning one prepared SessionEnv for every session."""

    def __init__(self, env: SessionEnv) -> None:
        self.env = env

    async def env_for(self, session: Session) -> SessionEnv:
        return self.env

    async def release(self, session_id: str) -> None:
        return None


class MemoryKV:
    """KeyValueStore in a dict: enough for tools that keep small documents (offsets, todos)."""

    def __init__(self) -> None:
        self.docs: dict[tuple[str, str, str], dict[str, Any]] = {}

    async def kv_put(self, namespace: str, key: str, value: Mapping[str, Any], *, org_id: str = "") -> None:
        self.docs[(org_id, namespace, key)] = dict(value)

    async def kv_get(self, namespace: str, key: str, *, org_id: str = "") -> dict[str, Any] | None:
        return self.docs.get((org_id, namespace, key))

    async def kv_list(self, namespace: str, *, prefix: str = "", org_id: str = "") -> list[dict[str, Any]]:
        return [v for (o, n, k), v in self.docs.items() if o == org_id and n == namespace and k.startswith(prefix)]

    async def kv_delete(self, namespace: str, key: str, *, org_id: str = "") -> None:
        self.docs.pop((org_id, namespace, key), None)

    async def kv_put_if_absent(self, namespace: str, key: str, value: Mapping[str, Any], *, org_id: str = "") -> bool:
        if (org_id, namespace, key) in self.docs:
            return False
        self.docs[(org_id, namespace, key)] = dict(value)
        return True


def tool_context(workspace: Any, cwd: str, events: list[tuple[str, dict[str, Any]]]) -> ToolContext:
    """A ToolContext over a workspace whose emitted events land in `events` and whose kv is in memory."""

    async def emit(kind: str, data: Mapping[str, Any]) -> None:
        events.append((kind, dict(data)))

    return ToolContext(session_id="s1", org_id="o1", tool_use_id="toolu_1", workspace=workspace,
                       state=SessionState(cwd=cwd), emit=emit, kv=MemoryKV())
