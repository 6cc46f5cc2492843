"""The model script of the shared browser server: the loopback Messages API answers each request from its history,
picking a scenario from a tag in the turn's prompt.

    "[main] ..."    text, TodoWrite + Write (a diff), Bash (asks for approval), two staged calendar invites, text
    "[slow N] ..."  N Write calls (slow/line_K.txt), then text (for reloads mid-stream)
    "[code] ..."    Write totals.py, Bash (asks; sleeps 60 s while slow.flag exists), a slowly streamed markdown reply
    "[biz3] ..."    loads the demo calendar, stages three invites, ends with a markdown table
    "[sub] ..."     a Task call whose general-purpose subagent globs the workspace ("[child]" is its prompt)
    anything else   one streamed sentence

Stateless like every script: the step is the number of assistant messages since the turn's prompt, so a resumed or
re-sent request gets the same reply.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from dexa.testing.script import Script, ScriptedToolUse, Turn

STAGE = "mcp__calendar__create_event"
HELLO = "Hello! I am a scripted agent, streaming this sentence in pieces."
MAIN_DONE = "All done: hello.py works and two follow-ups wait for review."
CODE_DONE = "Done.\n\n> totals.py sums the rows.\n\n- checks\n  - the file\n  - its output\n- next steps"
BIZ3_DONE = "Three invites wait for your review:\n\n| # | When |\n|---|---|\n| 1 | Mon |\n| 2 | Tue |\n| 3 | Wed |"


def invite(i: int, who: str = "dana@acme.example") -> dict[str, Any]:
    day = 6 + i
    return {
        "summary": f"Acme follow-up {i + 1}",
        "start": f"2020-01-{day:02d}T15:00:00Z",
        "end": f"2020-01-{day:02d}T15:30:00Z",
        "attendees": [who],
    }


def _turn(text: str, *uses: tuple[str, dict[str, Any]], delay_ms: int = 0) -> Turn:
    return Turn(text=text, tool_uses=tuple(ScriptedToolUse(name=n, input=i) for n, i in uses), delay_ms=delay_ms)


def _blocks(message: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    content = message.get("content")
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return [b for b in content or [] if isinstance(b, Mapping)]  # pyright: ignore[reportUnknownVariableType]


def _prompt_and_step(body: Mapping[str, Any]) -> tuple[str, int]:
    """The text of the turn's prompt (the last user message that is not only tool results) and the replies since."""
    step = 0
    for m in reversed(list(body.get("messages") or [])):
        blocks = _blocks(m)
        if m.get("role") == "assistant":
            step += 1
        elif not any(b.get("type") == "tool_result" for b in blocks):
            return " ".join(str(b.get("text", "")) for b in blocks if b.get("type") == "text"), step
    return "", step


def _main(prompt: str, step: int, ws: Path) -> Turn:
    # One file per prompt, so sessions sharing the workspace never touch each other's files.
    slug = re.sub(r"\W+", "_", prompt.split("[main]", 1)[1]).strip("_")
    name = "hello.py" if slug == "write_hello_and_follow_up" else f"hello_{slug}.py"
    todos = [
        {"content": "Write hello.py", "status": "in_progress", "activeForm": "Writing hello.py"},
        {"content": "Run it", "status": "pending", "activeForm": "Running it"},
        {"content": "Draft follow-ups", "status": "pending", "activeForm": "Drafting follow-ups"},
    ]
    code = 'def greet(name):\n    return f"hello {name}"\n\nprint(greet("dexa"))\n'
    steps = [
        _turn(
            "I'll plan this, then write the greeting script.",
            ("TodoWrite", {"todos": todos}),
            ("Write", {"file_path": str(ws / name), "content": code}),
            delay_ms=60,
        ),
        _turn("Now I'll run it.", ("Bash", {"command": "echo hello from bash && echo careful 1>&2"}), delay_ms=30),
        _turn("Loading your calendar.", ("LoadSourceTools", {"sources": ["calendar"]})),
        _turn("Drafting the follow-ups for review.", (STAGE, invite(0)), (STAGE, invite(1, "sam@acme.example"))),
        _turn(MAIN_DONE),
    ]
    return steps[min(step, len(steps) - 1)]


def responder(ws: Path) -> Callable[[Mapping[str, Any]], Turn | None]:
    def answer(body: Mapping[str, Any]) -> Turn | None:
        prompt, step = _prompt_and_step(body)
        if "[main]" in prompt:
            return _main(prompt, step, ws)
        if slow := re.search(r"\[slow (\d+)\]", prompt):
            n = int(slow.group(1))
            if step >= n:
                return _turn(f"finished {n} appends", delay_ms=20)
            line = {"file_path": str(ws / "slow" / f"line_{step}.txt"), "content": f"line {step}\n"}
            return _turn(f"step {step}", ("Write", line), delay_ms=10)
        if "[code]" in prompt:
            write = {"file_path": str(ws / "totals.py"), "content": "print(1 + 2)\n"}
            check = {"command": "if [ -f slow.flag ]; then sleep 60; fi; cat totals.py"}
            return [
                _turn("I'll write totals.py.", ("Write", write)),
                _turn("Checking it.", ("Bash", check)),
                _turn(CODE_DONE, delay_ms=400),  # streamed in chunks, slowly enough to watch it arrive
            ][min(step, 2)]
        if "[biz3]" in prompt:
            return [
                _turn("Loading your calendar.", ("LoadSourceTools", {"sources": ["calendar"]})),
                _turn("Proposing three follow-ups.", *((STAGE, invite(i)) for i in range(3))),
                _turn(BIZ3_DONE),
            ][min(step, 2)]
        if "[sub]" in prompt:
            task = {"description": "survey", "prompt": "[child] look around", "subagent_type": "general-purpose"}
            return [_turn("Delegating.", ("Task", task)), _turn("The survey found 3 modules.")][min(step, 1)]
        if "[child]" in prompt:
            glob = _turn("The child agent found 3 modules.", ("Glob", {"pattern": "**/*.md"}))
            return [glob, _turn("3 modules")][min(step, 1)]
        return _turn(HELLO, delay_ms=40)

    return answer


def script(ws: Path) -> Script:
    return Script(turns=(), responder=responder(ws), source="tests/browser/scenarios.py")
