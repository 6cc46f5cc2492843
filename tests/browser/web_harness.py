"""A real Dexa app (offline runtime, scripted model, real checkpoints, staged outputs) under uvicorn in a thread.

The model picks its script from the session's first prompt:
    "[main] ..."    text, TodoWrite + Write (a diff), Bash (asks for approval), two staged outputs, final text
    "[slow N] ..."  N Append calls spread over a few seconds, then text (for reloads mid-stream)
    anything else   one streamed sentence
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import uvicorn

from dexa.adapters.sqlite import FileBlobStore
from dexa.api.app import create_app
from dexa.api.fake_runtime import FakeRuntime, fake_runtime
from dexa.api.outputs import KvOutputQueue
from dexa.api.ports import PendingOutput
from dexa.api.ratelimit import RateLimit
from dexa.api.sse import StreamConfig
from dexa.auth.bootstrap import bootstrap_local, read_local_token
from dexa.auth.service import AuthService
from dexa.checkpoints import CheckpointService, record_side_effect
from dexa.core.events import EventType
from dexa.core.ports import ModelRequest, ToolSpec, Workspace
from dexa.core.tools import ToolContext, ToolOutput
from dexa.testing.fakes import AppendTool, RulePolicy
from dexa.testing.script import Turn
from dexa.testing.scripted import FunctionModel, reply, text, tool_use
from dexa.tools.files import Write
from dexa.tools.shell import Bash
from dexa.tools.todo import TodoWrite
from dexa.web import HandoffCodes, create_web_router

T = TypeVar("T")

EMAIL = {"to": "dana@example.com", "subject": "Demo follow-up", "body": "Thanks for the call, Dana."}
SLACK = {"channel": "#sales", "text": "Demo with Acme went well."}


class StageTool:
    """An MCP-style business action the runtime stages instead of executing."""

    read_only = False

    def __init__(self, name: str, kind: str, integration: str, props: list[str], queue: Callable[[], KvOutputQueue]):
        self.spec = ToolSpec(
            name=name,
            description=f"Stage a {kind}",
            input_schema={"type": "object", "properties": {p: {"type": "string"} for p in props}, "required": props},
        )
        self.kind = kind
        self.integration = integration
        self.queue = queue

    async def run(self, tool_input: dict[str, Any], ctx: ToolContext) -> ToolOutput:
        target = tool_input.get("to") or tool_input.get("channel") or ""
        out = await self.queue().stage(
            org_id=ctx.org_id,
            session_id=ctx.session_id,
            kind=self.kind,
            tool=self.spec.name,
            arguments=tool_input,
            integration=self.integration,
            summary=f"{self.kind} to {target}",
            context={"tool_use_id": ctx.tool_use_id, "why": "follow-up after the demo call"},
        )
        return ToolOutput(content=f"staged as {out.id}; a reviewer will approve it")


def _calls_this_turn(request: ModelRequest) -> int:
    """Assistant replies since the last plain user prompt."""
    n = 0
    for m in reversed(request.messages):
        if m.role == "user" and not m.tool_results:
            break
        n += m.role == "assistant"
    return n


def _prompt(request: ModelRequest) -> str:
    for m in request.messages:
        if m.role == "user" and m.text:
            return m.text
    return ""


def make_model(ws: Path) -> FunctionModel:
    async def scripted(request: ModelRequest) -> Turn:
        return await _scripted(request, ws)

    return FunctionModel(scripted, name="scripted")


async def _scripted(request: ModelRequest, ws: Path) -> Turn:
    prompt = _prompt(request)
    step = _calls_this_turn(request)
    if prompt.startswith("[main]"):
        # One file per prompt, so sessions sharing the workspace never touch each other's files.
        slug = re.sub(r"\W+", "_", prompt[7:]).strip("_")
        name = "hello.py" if prompt == "[main] write hello and follow up" else f"hello_{slug}.py"
        main = [
            reply(
                "I'll plan this, then write the greeting script.",
                tool_use(
                    "TodoWrite",
                    {
                        "todos": [
                            {"content": "Write hello.py", "status": "in_progress", "activeForm": "Writing hello.py"},
                            {"content": "Run it", "status": "pending", "activeForm": "Running it"},
                            {"content": "Draft follow-ups", "status": "pending", "activeForm": "Drafting follow-ups"},
                        ]
                    },
                ),
                tool_use(
                    "Write",
                    {
                        "file_path": str(ws / name),
                        "content": 'def greet(name):\n    return f"hello {name}"\n\nprint(greet("dexa"))\n',
                    },
                ),
                delay_ms=60,
            ),
            reply(
                "Now I'll run it.",
                tool_use("Bash", {"command": "echo hello from bash && echo careful 1>&2"}),
                delay_ms=30,
            ),
            reply("Drafting the follow-ups for review.", tool_use("SendEmail", EMAIL), tool_use("PostSlack", SLACK)),
            text("All done: hello.py works and two follow-ups wait for review."),
        ]
        return main[min(step, len(main) - 1)]
    if prompt.startswith("[slow"):
        n = int(prompt.split()[1].rstrip("]"))
        if step >= n:
            return reply(f"finished {n} appends", delay_ms=20)
        await asyncio.sleep(0.12)
        return reply(f"step {step}", tool_use("Append", {"path": "slow.log", "line": f"line {step}"}), delay_ms=10)
    return reply("Hello! I am a scripted agent, streaming this sentence in pieces.", delay_ms=40)


@dataclass
class Live:
    url: str
    token: str
    runtime: FakeRuntime
    home: Path
    workspace: Path
    loop: asyncio.AbstractEventLoop
    executed: list[PendingOutput] = field(default_factory=list)
    app: Any = None
    codes: HandoffCodes | None = None

    def handoff_url(self) -> str:
        """What `dexa serve` prints: the page with a fresh one-time code that hands this browser the local key."""
        assert self.codes is not None
        return f"{self.url}/?code={self.codes.issue()}"

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 10.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def wait_until(predicate: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {timeout}s")
        time.sleep(0.02)


class _Server(uvicorn.Server):
    """Signals once it listens, so the test thread waits on an event rather than polling."""

    def __init__(self, config: uvicorn.Config, ready: threading.Event) -> None:
        super().__init__(config)
        self.ready = ready

    async def startup(self, sockets: Any = None) -> None:
        await super().startup(sockets=sockets)
        self.ready.set()


def start_server(tmp: Path) -> tuple[Live, Callable[[], None]]:
    home = tmp / "home"
    ws = tmp / "ws"
    ws.mkdir(parents=True)
    holder: dict[str, KvOutputQueue] = {}
    tools = [
        AppendTool(),
        Write(),
        Bash(),
        TodoWrite(),
        StageTool("SendEmail", "email", "gmail", ["to", "subject", "body"], lambda: holder["q"]),
        StageTool("PostSlack", "chat_message", "slack", ["channel", "text"], lambda: holder["q"]),
    ]
    runtime = fake_runtime(
        home, model=make_model(ws.resolve()), tools=tools, policy=RulePolicy(ask={"Bash"}), workspace=ws
    )
    executed: list[PendingOutput] = []

    async def execute(output: PendingOutput) -> dict[str, Any]:
        executed.append(output)
        # As the control plane does: every executed business output lands in the side-effect ledger.
        await record_side_effect(
            runtime.store,
            output.session_id,
            kind="email_sent" if output.kind == "email" else "message_posted",
            summary=f"{output.tool} output {output.id} was executed",
            data={"output_id": output.id},
        )
        return {"delivered": True, "id": f"msg_{len(executed)}"}

    holder["q"] = KvOutputQueue(runtime.store, runtime.engine.emit, execute)

    async def workspace_for(_session_id: str) -> Workspace:
        return runtime.engine.envs.env.workspace  # type: ignore[attr-defined]

    checkpoints = CheckpointService(
        runtime.store, FileBlobStore(home / "blobs"), workspace_for, emit=runtime.engine.emit
    )
    runtime.engine.envs.env.checkpointer = checkpoints  # type: ignore[attr-defined]
    policy = RulePolicy(ask={"Bash"}, deny={"Delete"})

    async def check(*, org_id: str, tool: str, tool_input: Any, cwd: str, mode: str) -> Any:
        return policy.decide(tool, tool_input, mode=mode, cwd=cwd)

    codes = HandoffCodes()
    web = create_web_router(local_token=lambda: read_local_token(home), handoff_codes=codes, cache_static=False)
    app = create_app(
        runtime,
        rewinder=checkpoints,
        outputs=holder["q"],
        default_cwd=str(ws),
        test_mode=True,
        permission_check=check,
        rate_limit=RateLimit(rate=10_000, burst=10_000),
        extra_routers=[web],
        # Streams end every 1.5 s, so every test also exercises reconnect-with-Last-Event-ID.
        stream=StreamConfig(heartbeat_s=5, max_s=1.5, poll_s=0.2, retry_ms=100),
    )
    ready = threading.Event()
    server = _Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on"), ready)
    box: dict[str, Any] = {}

    async def serve() -> None:
        box["loop"] = asyncio.get_running_loop()
        box["token"] = await bootstrap_local(AuthService(runtime.store), home)
        try:
            await server.serve()
        finally:
            ready.set()  # a failed start must not leave the test waiting
            await runtime.aclose()

    thread = threading.Thread(target=lambda: asyncio.run(serve()), name="dexa-web-test", daemon=True)
    thread.start()
    if not ready.wait(15) or not server.started:
        raise RuntimeError("uvicorn did not start")
    port = server.servers[0].sockets[0].getsockname()[1]
    live = Live(
        url=f"http://127.0.0.1:{port}",
        token=box["token"],
        runtime=runtime,
        home=home,
        workspace=ws,
        loop=box["loop"],
        executed=executed,
        app=app,
        codes=codes,
    )

    def stop() -> None:
        server.should_exit = True
        thread.join(10)

    return live, stop


async def seed_large_session(live: Live, *, events: int = 2000) -> str:
    """A finished session with `events` events: turns of streamed text and tool calls (diffs included)."""
    rt = live.runtime
    session = await rt.create_session(
        cwd=str(live.workspace), org_id="org_local", user_id="usr_local", title="A long session (2,000 events)"
    )
    emit: Callable[[str, str, dict[str, Any]], Awaitable[object]] = rt.engine.emit
    n = await rt.store.last_seq(session.id)
    turn = 0
    while n < events:
        turn += 1
        await emit(session.id, EventType.TURN_STARTED, {"turn": turn, "prompt": f"Step {turn}: refactor module {turn}"})
        for k in range(3):
            await emit(
                session.id,
                EventType.TEXT_DELTA,
                {"turn": turn, "message_id": f"t{turn}a0", "text": f"Part {k} of my plan. "},
            )
        for k in range(4):
            tid = f"toolu_{turn}_{k}"
            await emit(
                session.id,
                EventType.TOOL_REQUESTED,
                {"turn": turn, "tool_use_id": tid, "name": "Edit", "input": {"file_path": f"src/m{turn}.py"}},
            )
            await emit(
                session.id,
                EventType.TOOL_STARTED,
                {"tool_use_id": tid, "name": "Edit", "input": {"file_path": f"src/m{turn}.py"}},
            )
            await emit(
                session.id,
                EventType.TOOL_COMPLETED,
                {
                    "tool_use_id": tid,
                    "name": "Edit",
                    "status": "done",
                    "is_error": False,
                    "content": "ok",
                    "data": {
                        "filePath": f"src/m{turn}.py",
                        "diff": f"--- a/src/m{turn}.py\n+++ b/src/m{turn}.py\n"
                        f"@@ -1,2 +1,2 @@\n-x = {k}\n+x = {k + 1}\n y = 2\n",
                    },
                },
            )
        await emit(
            session.id,
            EventType.USAGE,
            {
                "turn": turn,
                "usage": {"input_tokens": 1000, "output_tokens": 200},
                "cost_usd": 0.01,
                "total_cost_usd": 0.01 * turn,
            },
        )
        await emit(session.id, EventType.TURN_COMPLETED, {"turn": turn, "subtype": "success", "duration_ms": 1200})
        n = await rt.store.last_seq(session.id)
    return session.id


def api(live: Live, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    import httpx

    r = httpx.request(method, live.url + path, json=body, headers=live.headers(), timeout=10)
    r.raise_for_status()
    return r.json() if r.content else None


def wait_idle(live: Live, session_id: str, timeout: float = 15.0) -> dict[str, Any]:
    def idle() -> Any:
        s = api(live, "GET", f"/sessions/{session_id}")
        return s if s["turn"] is None and not s["running"] else None

    return wait_until(idle, timeout, f"session {session_id} idle")


def run_main_session(live: Live, title: str = "[main] review me") -> str:
    """The scripted main session, driven through the API (approval included) to the end."""
    s = api(live, "POST", "/sessions", {"prompt": title})
    pending = wait_until(
        lambda: api(live, "GET", f"/sessions/{s['id']}/approvals?status=pending")["data"], 15, "the Bash approval"
    )
    api(live, "POST", f"/sessions/{s['id']}/approve", {"approval_id": pending[0]["id"], "decision": "once"})
    wait_idle(live, s["id"])
    return str(s["id"])


async def seed_subagent_session(live: Live) -> tuple[str, str]:
    """A parent whose Task call ran a subagent (a child session with its own log)."""
    rt = live.runtime
    kw: dict[str, Any] = {"cwd": str(live.workspace), "org_id": "org_local", "user_id": "usr_local"}
    parent = await rt.create_session(**kw, title="Delegates to a subagent")
    child = await rt.create_session(**kw, title="explorer", parent_id=parent.id)
    emit = rt.engine.emit
    await emit(parent.id, EventType.TURN_STARTED, {"turn": 1, "prompt": "Survey the repo"})
    task = {"tool_use_id": "toolu_task", "name": "Task", "input": {"description": "survey", "prompt": "look around"}}
    await emit(parent.id, EventType.TOOL_REQUESTED, {"turn": 1, **task})
    await emit(parent.id, EventType.TOOL_STARTED, task)
    await emit(
        parent.id,
        EventType.SUBAGENT_STARTED,
        {
            "session_id": child.id,
            "agent_id": child.id,
            "agent_type": "explorer",
            "description": "survey",
            "parent_tool_use_id": "toolu_task",
        },
    )
    await emit(child.id, EventType.TURN_STARTED, {"turn": 1, "prompt": "look around"})
    await emit(
        child.id, EventType.TEXT_DELTA, {"turn": 1, "message_id": "t1a0", "text": "The child agent found 3 modules."}
    )
    await emit(
        child.id,
        EventType.TOOL_REQUESTED,
        {"turn": 1, "tool_use_id": "toolu_c1", "name": "Glob", "input": {"pattern": "**/*.py"}},
    )
    await emit(
        child.id,
        EventType.TOOL_COMPLETED,
        {"tool_use_id": "toolu_c1", "name": "Glob", "status": "done", "is_error": False, "content": "a.py\nb.py\nc.py"},
    )
    await emit(child.id, EventType.TURN_COMPLETED, {"turn": 1, "subtype": "success"})
    await emit(
        parent.id,
        EventType.SUBAGENT_COMPLETED,
        {
            "session_id": child.id,
            "agent_type": "explorer",
            "parent_tool_use_id": "toolu_task",
            "status": "completed",
            "result": "3 modules",
            "cost_usd": 0.002,
        },
    )
    await emit(
        parent.id,
        EventType.TOOL_COMPLETED,
        {"tool_use_id": "toolu_task", "name": "Task", "status": "done", "is_error": False, "content": "3 modules"},
    )
    await emit(parent.id, EventType.TURN_COMPLETED, {"turn": 1, "subtype": "success"})
    return parent.id, child.id
