"""Real hook scripts (bash and Python files) run by the hook runner: stdin JSON in, every output form out."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from dexa.config.hooks import HooksConfig, parse_hooks
from dexa.core.ports import HookOutcome
from dexa.hooks.protocol import HookResult
from dexa.hooks.runner import SettingsHookRunner


def script(tmp_path: Path, name: str, body: str, *, python: bool = False) -> str:
    path = tmp_path / "hooks" / name
    path.parent.mkdir(exist_ok=True)
    shebang = f"#!{sys.executable}\n" if python else "#!/bin/bash\n"
    path.write_text(shebang + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


def runner(tmp_path: Path, hooks: dict[str, Any], *, scope: str = "user", **kwargs: Any) -> SettingsHookRunner:
    """The user's own hooks run on the host; `scope="project"` (repository) hooks need a sandbox executor."""
    groups, problems = parse_hooks(hooks, source=str(tmp_path / "settings.json"), scope=scope)
    assert problems == []
    project = tmp_path / "project"
    project.mkdir(exist_ok=True)
    kwargs.setdefault("host_env", {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "SECRET_TOKEN": "s3cret"})
    return SettingsHookRunner(
        HooksConfig(tuple(groups)),
        project_dir=str(project),
        session_id="ses_1",
        transcript_path=str(tmp_path / "t.jsonl"),
        **kwargs,
    )


def on(event: str, command: str, matcher: str | None = None, **extra: Any) -> dict[str, Any]:
    group: dict[str, Any] = {"hooks": [{"type": "command", "command": command, **extra}]}
    if matcher is not None:
        group["matcher"] = matcher
    return {event: [group]}


def go(coro: Awaitable[HookOutcome]) -> HookOutcome:
    return asyncio.run(coro)  # type: ignore[arg-type]


PRE_BASH = {"tool_name": "Bash", "tool_input": {"command": "rm -rf build"}, "tool_use_id": "toolu_1"}

RECORD_STDIN = """
import json, os, sys
data = json.load(sys.stdin)
out = os.path.join(os.environ["CLAUDE_PROJECT_DIR"], "stdin.json")
json.dump({"input": data, "cwd": os.getcwd(), "env": dict(os.environ)}, open(out, "w"))
"""


def test_pre_tool_use_hook_receives_claude_code_fields_and_env(tmp_path: Path) -> None:
    """Hosted, a hook runs in the real workspace sandbox: Claude Code's payload on stdin, the sandbox's env."""
    from dexa.adapters.local_sandbox import LocalSandbox
    from dexa.adapters.local_sandbox.bwrap import probe_bwrap
    from dexa.hooks.runner import workspace_executor

    if probe_bwrap() is not None:
        pytest.skip(f"bubblewrap unusable: {probe_bwrap()}")
    project = tmp_path / "project"
    project.mkdir()
    hook = project / ".claude" / "hooks" / "record.py"
    hook.parent.mkdir(parents=True)
    hook.write_text("#!/usr/bin/python3\n" + RECORD_STDIN)
    hook.chmod(0o755)
    box = LocalSandbox(str(project), state_dir=str(tmp_path / "state"))
    r = runner(
        tmp_path,
        on("PreToolUse", str(hook), "Bash"),
        scope="project",
        permission_mode="acceptEdits",
        hosted=True,
        settings_env={"FROM_SETTINGS": "1"},
        sandbox_executor=workspace_executor(box),
    )
    go(r.run("PreToolUse", PRE_BASH))
    seen = json.loads((Path(r.project_dir) / "stdin.json").read_text())
    assert seen["input"] == {
        "session_id": "ses_1",
        "transcript_path": str(tmp_path / "t.jsonl"),
        "cwd": r.project_dir,
        "hook_event_name": "PreToolUse",
        "permission_mode": "acceptEdits",
        **PRE_BASH,
    }
    assert seen["cwd"] == r.project_dir
    env = seen["env"]
    assert (env["CLAUDE_PROJECT_DIR"], env["DEXA_REMOTE"], env["CLAUDE_CODE_REMOTE"], env["FROM_SETTINGS"]) == (
        r.project_dir,
        "1",
        "true",
        "1",
    )
    assert "SECRET_TOKEN" not in env, "the host's secrets never reach a hook"
    assert env["HOME"] == r.project_dir, "the sandbox's environment, not the server's"


def test_local_session_has_no_remote_markers(tmp_path: Path) -> None:
    hook = script(tmp_path, "record.py", RECORD_STDIN, python=True)
    r = runner(tmp_path, on("SessionStart", hook))
    go(r.run("SessionStart", {"source": "startup"}))
    env = json.loads((Path(r.project_dir) / "stdin.json").read_text())["env"]
    assert "DEXA_REMOTE" not in env and "CLAUDE_CODE_REMOTE" not in env


DENY_RM = """
import json, sys
data = json.load(sys.stdin)
if data["tool_input"]["command"].startswith("rm "):
    print(json.dumps({"hookSpecificOutput": {"hookEventName": "PreToolUse", "permissionDecision": "deny",
                                             "permissionDecisionReason": "no rm in this repo"}}))
"""


def test_json_deny_from_a_python_hook(tmp_path: Path) -> None:
    r = runner(tmp_path, on("PreToolUse", script(tmp_path, "deny.py", DENY_RM, python=True), "Bash"))
    outcome = go(r.run("PreToolUse", PRE_BASH))
    assert (outcome.permission_decision, outcome.reason) == ("deny", "no rm in this repo")
    safe = go(r.run("PreToolUse", {"tool_name": "Bash", "tool_input": {"command": "ls"}}))
    assert safe.permission_decision is None


def test_exit_2_blocks_with_stderr_from_a_bash_hook(tmp_path: Path) -> None:
    hook = script(tmp_path, "block.sh", 'input=$(cat)\necho "blocked: $input" | head -c 40 >&2\nexit 2\n')
    outcome = go(runner(tmp_path, on("PreToolUse", hook)).run("PreToolUse", PRE_BASH))
    assert outcome.blocked and outcome.reason.startswith('blocked: {"session_id"')


def test_a_blocked_tool_never_runs(tmp_path: Path) -> None:
    """End to end: PreToolUse exit 2 -> combine() denies -> the tool body is never called."""
    from dexa.core.ports import PermissionDecision
    from dexa.permissions.engine import combine

    hook = script(tmp_path, "block.sh", "cat >/dev/null; echo 'policy says no' >&2; exit 2\n")
    r = runner(tmp_path, on("PreToolUse", hook, "Bash"))
    marker = Path(r.project_dir) / "ran.txt"

    async def turn() -> str:
        outcome = await r.run("PreToolUse", {"tool_name": "Bash", "tool_input": {"command": f"touch {marker}"}})
        allowed_by_rule = PermissionDecision(behavior="allow", rule="Bash", source="cli", reason="")
        decision = combine(outcome, allowed_by_rule, mode="bypassPermissions")
        if decision.behavior == "allow":
            marker.write_text("ran")
        return decision.reason

    assert asyncio.run(turn()) == "policy says no"
    assert not marker.exists()


def test_exit_1_is_a_non_blocking_error_reported_to_on_result(tmp_path: Path) -> None:
    reports: list[HookResult] = []

    async def report(result: HookResult) -> None:
        reports.append(result)

    hook = script(tmp_path, "fail.sh", "echo 'config missing' >&2\nexit 1\n")
    outcome = go(runner(tmp_path, on("PreToolUse", hook), on_result=report).run("PreToolUse", PRE_BASH))
    assert not outcome.blocked and outcome.permission_decision is None
    (result,) = reports
    assert result.exit_code == 1 and "non-blocking status code 1: config missing" in result.error


def test_plain_stdout_becomes_context_for_user_prompt_submit(tmp_path: Path) -> None:
    hook = script(
        tmp_path, "ctx.sh", "python3 -c \"import json,sys; print('prompt was: ' + json.load(sys.stdin)['prompt'])\"\n"
    )
    outcome = go(runner(tmp_path, on("UserPromptSubmit", hook)).run("UserPromptSubmit", {"prompt": "fix the bug"}))
    assert outcome.additional_context == "prompt was: fix the bug"


def test_user_prompt_submit_block_with_decision_json(tmp_path: Path) -> None:
    hook = script(tmp_path, "guard.sh", 'cat >/dev/null\necho \'{"decision": "block", "reason": "no secrets"}\'\n')
    outcome = go(runner(tmp_path, on("UserPromptSubmit", hook)).run("UserPromptSubmit", {"prompt": "key=abc"}))
    assert outcome.blocked and outcome.reason == "no secrets"


def test_updated_input_and_allow(tmp_path: Path) -> None:
    body = """
import json, sys
data = json.load(sys.stdin)
cmd = data["tool_input"]["command"] + " --dry-run"
print(json.dumps({"hookSpecificOutput": {"hookEventName": "PreToolUse", "permissionDecision": "allow",
      "permissionDecisionReason": "made safe", "updatedInput": {**data["tool_input"], "command": cmd}}}))
"""
    outcome = go(
        runner(tmp_path, on("PreToolUse", script(tmp_path, "rw.py", body, python=True))).run(
            "PreToolUse", {"tool_name": "Bash", "tool_input": {"command": "deploy", "timeout": 5}}
        )
    )
    assert outcome.permission_decision == "allow"
    assert outcome.updated_input == {"command": "deploy --dry-run", "timeout": 5}


def test_ask_and_legacy_forms(tmp_path: Path) -> None:
    ask = script(
        tmp_path,
        "ask.sh",
        'cat >/dev/null; echo \'{"hookSpecificOutput": {"hookEventName": "PreToolUse",'
        ' "permissionDecision": "ask", "permissionDecisionReason": "double-check"}}\'\n',
    )
    legacy = script(tmp_path, "legacy.sh", 'cat >/dev/null; echo \'{"decision": "approve", "reason": "ok"}\'\n')
    both = {"PreToolUse": [{"hooks": [{"type": "command", "command": ask}, {"type": "command", "command": legacy}]}]}
    outcome = go(runner(tmp_path, both).run("PreToolUse", PRE_BASH))
    assert (outcome.permission_decision, outcome.reason) == ("ask", "double-check")


def test_continue_false_system_message_and_suppress_output(tmp_path: Path) -> None:
    hook = script(
        tmp_path,
        "stop.sh",
        'cat >/dev/null; echo \'{"continue": false, "stopReason": "quota", '
        '"systemMessage": "heads up", "suppressOutput": true}\'\n',
    )
    outcome = go(
        runner(tmp_path, on("PostToolUse", hook)).run(
            "PostToolUse", {**PRE_BASH, "tool_response": {"stdout": "", "stderr": ""}}
        )
    )
    assert (outcome.stop, outcome.stop_reason, outcome.system_message, outcome.suppress_output) == (
        True,
        "quota",
        "heads up",
        True,
    )


def test_stop_hook_can_keep_the_agent_working_and_sees_stop_hook_active(tmp_path: Path) -> None:
    body = """
import json, sys
data = json.load(sys.stdin)
if not data["stop_hook_active"]:
    print(json.dumps({"decision": "block", "reason": "run the tests first"}))
"""
    r = runner(tmp_path, on("Stop", script(tmp_path, "stop.py", body, python=True)))
    first = go(r.run("Stop", {"stop_hook_active": False, "last_assistant_message": "done"}))
    second = go(r.run("Stop", {"stop_hook_active": True, "last_assistant_message": "done"}))
    assert (first.blocked, first.reason) == (True, "run the tests first")
    assert not second.blocked


def test_session_start_matcher_on_source_and_additional_context(tmp_path: Path) -> None:
    hook = script(
        tmp_path,
        "start.sh",
        'cat >/dev/null; echo \'{"hookSpecificOutput": {"hookEventName": '
        '"SessionStart", "additionalContext": "resumed work"}}\'\n',
    )
    r = runner(tmp_path, on("SessionStart", hook, "resume|compact"))
    assert go(r.run("SessionStart", {"source": "resume"})).additional_context == "resumed work"
    assert go(r.run("SessionStart", {"source": "startup"})).additional_context == ""


def test_permission_request_hook_answers_the_prompt(tmp_path: Path) -> None:
    hook = script(
        tmp_path,
        "pr.sh",
        'cat >/dev/null; echo \'{"hookSpecificOutput": {"hookEventName": '
        '"PermissionRequest", "decision": {"behavior": "allow", "updatedInput": {"command": "ls"}}}}\'\n',
    )
    outcome = go(
        runner(tmp_path, on("PermissionRequest", hook, "Bash")).run(
            "PermissionRequest", {"tool_name": "Bash", "tool_input": {"command": "ls -R"}}
        )
    )
    assert (outcome.permission_decision, outcome.updated_input) == ("allow", {"command": "ls"})


def test_timeout_discards_the_hook_and_does_not_block(tmp_path: Path) -> None:
    reports: list[HookResult] = []

    async def report(result: HookResult) -> None:
        reports.append(result)

    hook = script(tmp_path, "slow.sh", "sleep 30\nexit 2\n")
    r = runner(tmp_path, on("PreToolUse", hook, timeout=0.5), on_result=report)
    started = time.monotonic()
    outcome = go(r.run("PreToolUse", PRE_BASH))
    assert time.monotonic() - started < 5
    assert not outcome.blocked
    assert reports[0].timed_out and "timed out" in reports[0].error


def test_matching_hooks_run_in_parallel(tmp_path: Path) -> None:
    # A rendezvous, not a stopwatch: each hook says it started, then gives its context only once the other has
    # started too. Run one after the other, the first waits in vain (20 s) and says nothing; load only slows it.
    meet = tmp_path / "meet"
    meet.mkdir()

    def hook(me: str, other: str, context: str) -> str:
        body = (
            f"cat >/dev/null; touch {meet}/{me}\n"
            f"for _ in $(seq 400); do [ -e {meet}/{other} ] && break; sleep 0.05; done\n"
            f"[ -e {meet}/{other} ] && echo {context}\n"
        )
        return script(tmp_path, f"{me}.sh", body)

    hooks = {
        "UserPromptSubmit": [
            {"hooks": [{"type": "command", "command": hook("one", "two", "first context"), "timeout": 60}]},
            {"hooks": [{"type": "command", "command": hook("two", "one", "second context"), "timeout": 60}]},
        ]
    }
    outcome = go(runner(tmp_path, hooks).run("UserPromptSubmit", {"prompt": "hi"}))
    assert outcome.additional_context == "first context\n\nsecond context"


def test_if_field_filters_tool_calls(tmp_path: Path) -> None:
    hook = script(tmp_path, "git.sh", "cat >/dev/null; echo 'no git here' >&2; exit 2\n")
    r = runner(tmp_path, on("PreToolUse", hook, "Bash", **{"if": "Bash(git *)"}))
    assert go(r.run("PreToolUse", {"tool_name": "Bash", "tool_input": {"command": "ls && git push"}})).blocked
    assert not go(r.run("PreToolUse", {"tool_name": "Bash", "tool_input": {"command": "ls"}})).blocked


def test_exec_form_args_substitute_the_project_dir_literally(tmp_path: Path) -> None:
    hook = script(tmp_path, "args.py", "import sys\nprint(' '.join(sys.argv[1:]))\n", python=True)
    hooks = {
        "SessionStart": [
            {"hooks": [{"type": "command", "command": hook, "args": ["${CLAUDE_PROJECT_DIR}/x", "$(not run)"]}]}
        ]
    }
    r = runner(tmp_path, hooks)
    outcome = go(r.run("SessionStart", {"source": "startup"}))
    assert outcome.additional_context == f"{r.project_dir}/x $(not run)"


def test_matcher_accepts_either_tool_spelling(tmp_path: Path) -> None:
    hook = script(tmp_path, "agent.sh", "cat >/dev/null; echo 'no subagents' >&2; exit 2\n")
    r = runner(tmp_path, on("PreToolUse", hook, "Agent"))
    assert go(r.run("PreToolUse", {"tool_name": "Task", "tool_input": {"prompt": "p"}})).blocked


def test_hosted_executor_is_injectable(tmp_path: Path) -> None:
    calls: list[dict[str, Any]] = []

    async def fake_sandbox(command: str, *, cwd: str, env: dict, stdin: bytes, timeout: float) -> tuple[int, str, str]:
        calls.append({"command": command, "cwd": cwd, "stdin": json.loads(stdin), "timeout": timeout})
        return 0, '{"systemMessage": "ran in sandbox"}', ""

    executor: Callable[..., Awaitable[tuple[int, str, str]]] = fake_sandbox
    r = runner(tmp_path, on("Notification", "notify.sh"), executor=executor)
    outcome = go(r.run("Notification", {"message": "waiting", "notification_type": "idle_prompt"}))
    assert outcome.system_message == "ran in sandbox"
    assert calls[0]["command"] == "notify.sh" and calls[0]["timeout"] == 600.0
    assert calls[0]["stdin"]["notification_type"] == "idle_prompt"


@pytest.mark.parametrize(
    ("event", "expected"), [("UserPromptSubmit", 30.0), ("PreToolUse", 600.0), ("SessionEnd", 1.5)]
)
def test_default_timeouts_follow_current_claude_code(tmp_path: Path, event: str, expected: float) -> None:
    seen: list[float] = []

    async def fake(command: str, *, cwd: str, env: dict, stdin: bytes, timeout: float) -> tuple[int, str, str]:
        seen.append(timeout)
        return 0, "", ""

    go(runner(tmp_path, on(event, "x.sh"), executor=fake).run(event, {}))
    assert seen == [expected]
