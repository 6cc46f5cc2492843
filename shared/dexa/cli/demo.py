"""`dexa demo`: an agent fixes a failing test in a small repo, offline, through the real Anthropic SDK.

With no ANTHROPIC_API_KEY a scripted model plays the agent, served by the loopback Messages-API fake, so the whole
path (SDK streaming, permissions, sandboxed Bash, edits, checkpoints, events) is real. With a key, Sonnet does it.
"""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import shutil
import subprocess
import tempfile
import time
from importlib import resources
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.panel import Panel
from rich.syntax import Syntax

from dexa.cli.render import EventRenderer
from dexa.core.session import SessionConfig

TASK = "The tests in this repo fail. Find out why, fix the code (not the tests), and run the tests until they pass."
TEST_CMD = "python3 -m unittest -q"


def demo_script(root: str) -> dict[str, Any]:
    """What the scripted agent does: explore, reproduce, read, fix, verify, summarise."""
    totals = f"{root}/invoice/totals.py"
    return {
        "turns": [
            {
                "text": "I'll start by looking at the project layout and running the tests.",
                "tool_uses": [
                    {
                        "name": "Bash",
                        "input": {
                            "command": "ls -R invoice tests && " + TEST_CMD,
                            "description": "List files and run the tests",
                        },
                    }
                ],
            },
            {
                "text": "Two tests fail around discounts. Let me read the implementation.",
                "tool_uses": [{"name": "Read", "input": {"file_path": totals}}],
            },
            {
                "text": "`discount_pct` is a percentage (10 means 10 %), but the code multiplies by it as a fraction. "
                "Fixing that:",
                "tool_uses": [
                    {
                        "name": "Edit",
                        "input": {
                            "file_path": totals,
                            "old_string": "    discount = gross * discount_pct\n",
                            "new_string": "    discount = gross * discount_pct / 100\n",
                        },
                    }
                ],
            },
            {
                "text": "Now re-running the tests.",
                "tool_uses": [{"name": "Bash", "input": {"command": TEST_CMD, "description": "Run the tests"}}],
            },
            {
                "text": "All 3 tests pass.\n\n**Fix:** `line_total` treated `discount_pct` as a fraction; it is a "
                "percentage, so the discount is now `gross * discount_pct / 100`. The invoice total test passed "
                "too, since tax is applied to the corrected subtotal."
            },
        ]
    }


RESUME_PROMPT = "Add a test for a 100 % discount and run the tests."


def _prepare_repo() -> Path:
    """A fresh copy of the demo repo under the Dexa home, kept after the run: resume and rewind need its files."""
    from dexa.settings import get_settings

    demos = get_settings().home / "demos"
    demos.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=time.strftime("%Y%m%d-%H%M%S-"), dir=demos))
    repo = work / "invoice-repo"
    src = resources.files("dexa.demo").joinpath("repo")
    with resources.as_file(src) as path:
        shutil.copytree(path, repo, ignore=shutil.ignore_patterns("__pycache__"))
    git = ["git", "-c", "user.name=Dexa Demo", "-c", "user.email=demo@dexa.invalid"]
    subprocess.run([*git, "init", "-q"], cwd=repo, check=True)
    subprocess.run([*git, "add", "-A"], cwd=repo, check=True)
    subprocess.run([*git, "commit", "-qm", "initial"], cwd=repo, check=True)
    return repo


async def _run(repo: Path, env: dict[str, str], model: str, console: Console) -> dict[str, Any]:
    from dexa.settings import get_settings
    from dexa.wiring import build_runtime

    rt = build_runtime(get_settings(), env=env)
    renderer = EventRenderer(console)
    try:
        config = SessionConfig(allowed_tools=(f"Bash({TEST_CMD})", "Bash(ls:*)"), headless=True)
        session = await rt.create_session(
            cwd=str(repo),
            model=model,
            permission_mode="acceptEdits",
            config=config,
            title="demo: fix the failing invoice tests",
        )
        envobj = await rt.envs.env_for(session)
        for _, data in envobj.startup_events:
            if data.get("message"):
                console.print(f"[yellow]{data['message']}[/]")
        await rt.engine.submit(session.id, TASK)
        task = asyncio.create_task(rt.driver.run(session.id, wait_for_approvals=False))
        cursor = 0
        while True:
            events = await rt.store.read_events(session.id, after=cursor)
            for ev in events:
                cursor = ev.seq
                renderer.render(ev)
            if task.done() and not events:
                break
            if not events:
                await rt.engine.notifier.wait(f"events:{session.id}", 0.2)
        final = await task
        tools = await rt.store.list_tool_records(session.id)
        return {
            "session": final,
            "tool_calls": len(tools),
            "events": cursor,
            "denied": sum(1 for t in tools if t.status == "denied"),
        }
    finally:
        await rt.aclose()


def run_demo(*, keep: bool = True) -> int:
    console = Console(highlight=False)
    repo = _prepare_repo()
    env = dict(os.environ)
    server = None
    if env.get("ANTHROPIC_API_KEY"):
        model = "sonnet"
        console.print("[bold]ANTHROPIC_API_KEY is set: Sonnet runs the demo.[/]")
    else:
        from dexa.testing.messages_api import serve
        from dexa.testing.script import Script

        script_path = repo.parent / "script.json"
        script_path.write_text(json.dumps(demo_script(str(repo)), indent=2))
        server = serve(Script.load(script_path))
        # The SDK reads these from the process environment, exactly as it would for a real endpoint.
        os.environ["ANTHROPIC_BASE_URL"] = env["ANTHROPIC_BASE_URL"] = server.url
        os.environ["ANTHROPIC_API_KEY"] = env["ANTHROPIC_API_KEY"] = "loopback-demo-key"
        model = "sonnet"
        console.print(
            f"[dim]No ANTHROPIC_API_KEY: a scripted agent drives the real Anthropic SDK through the "
            f"loopback Messages API at {server.url}.[/]"
        )
    console.print(Panel(TASK, title=f"task · {repo}", border_style="cyan"))
    started = time.time()
    try:
        outcome = asyncio.run(_run(repo, env, model, console))
    finally:
        if server is not None:
            server.close()
    diff = subprocess.run(["git", "diff"], cwd=repo, capture_output=True, text=True, check=True).stdout
    tests = subprocess.run(TEST_CMD.split(), cwd=repo, capture_output=True, text=True)
    session = outcome["session"]
    console.rule("diff")
    console.print(Syntax(diff or "(no changes)", "diff", theme="ansi_dark", background_color="default"))
    console.rule("session")
    ok = tests.returncode == 0 and session.status == "idle"
    console.print(
        f"session [bold]{session.id}[/]  status {session.status}  turns {session.turns_completed}  "
        f"tool calls {outcome['tool_calls']} ({outcome['denied']} denied)  events {outcome['events']}\n"
        f"tokens in {session.usage.input_tokens} / out {session.usage.output_tokens}  "
        f"cost ${session.cost_usd:.4f}  wall {time.time() - started:.2f}s\n"
        f"tests after the run: {'[green]PASS[/]' if tests.returncode == 0 else '[red]FAIL[/]'}"
    )
    if keep:
        # Plain and unwrapped: each command must stay one line that pastes into a shell as printed.
        console.print(next_steps(session.id, repo), markup=False, highlight=False, soft_wrap=True)
    else:
        shutil.rmtree(repo.parent, ignore_errors=True)
        console.print("workspace removed (--no-keep): the session cannot be resumed or rewound")
    return 0 if ok else 1


def next_steps(session_id: str, repo: Path) -> str:
    """What to try next, each command runnable as printed (a test runs every one of them)."""
    repo_q, work_q = shlex.quote(str(repo)), shlex.quote(str(repo.parent))
    lines = [
        f"workspace kept at {repo_q} (with the session's script); remove it when done:",
        f"  rm -rf {work_q}",
        "next steps (each line pastes into a shell as is):",
        f"  dexa sessions  # this session is {session_id}",
        f"  dexa rewind {session_id}  # its checkpoints",
        f"  dexa rewind {session_id} --to 1 --code  # put the bug back: the files as before the fix",
        f"  cd {repo_q} && python3 -m unittest -q  # the tests fail again after that rewind",
        f"  cd {repo_q} && dexa run --resume {session_id} -p {shlex.quote(RESUME_PROMPT)}"
        "  # continue it (needs ANTHROPIC_API_KEY)",
    ]
    return "\n".join(lines)
