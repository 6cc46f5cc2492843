"""Engine behaviour beyond single decisions: session rules, suggestions, symlinks, hook precedence."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest
from permission_cases import Stack

from dexa.core.errors import ConfigError
from dexa.core.ports import HookOutcome, PermissionDecision
from dexa.permissions.engine import combine, hook_overridable, matches_rule


def test_session_rule_allows_with_source_session(make_stack: Callable[..., Stack]) -> None:
    stack = make_stack()
    edit = {"file_path": f"{stack.cwd}/src/a.py", "old_string": "a", "new_string": "b"}
    assert stack.engine.decide("Edit", edit, mode="default", cwd=stack.cwd).behavior == "ask"
    stack.engine.add_session_rule("Edit(src/**)")
    decision = stack.engine.decide("Edit", edit, mode="default", cwd=stack.cwd)
    assert (decision.behavior, decision.rule, decision.source) == ("allow", "Edit(src/**)", "session")


def test_session_rule_never_overrides_a_file_deny(make_stack: Callable[..., Stack]) -> None:
    stack = make_stack(project={"permissions": {"deny": ["Bash(curl *)"]}})
    stack.engine.add_session_rule("Bash(curl *)")
    assert stack.engine.decide("Bash", {"command": "curl x"}, mode="default", cwd=stack.cwd).behavior == "deny"


def test_malformed_session_rule_is_a_config_error(make_stack: Callable[..., Stack]) -> None:
    with pytest.raises(ConfigError, match="invalid session rule"):
        make_stack().engine.add_session_rule("Bash(unclosed")


def test_suggestions_use_the_space_prefix_form_claude_code_writes(make_stack: Callable[..., Stack]) -> None:
    stack = make_stack()
    decision = stack.engine.decide("Bash", {"command": "npm run test -- --ci"}, mode="default", cwd=stack.cwd)
    assert decision.suggestions == ("Bash(npm run test *)",)


def test_compound_suggestions_name_only_parts_needing_approval_capped_at_five(
    make_stack: Callable[..., Stack],
) -> None:
    stack = make_stack()
    command = "git status && " + " && ".join(f"tool{i} run" for i in range(7))
    decision = stack.engine.decide("Bash", {"command": command}, mode="default", cwd=stack.cwd)
    assert len(decision.suggestions) == 5
    assert all(s.startswith("Bash(tool") for s in decision.suggestions)


def test_suggestion_for_exec_wrapper_is_an_exact_rule(make_stack: Callable[..., Stack]) -> None:
    stack = make_stack()
    decision = stack.engine.decide("Bash", {"command": "watch -n 1 date"}, mode="default", cwd=stack.cwd)
    assert decision.suggestions == ("Bash(watch -n 1 date)",)


def test_webfetch_and_read_suggestions(make_stack: Callable[..., Stack]) -> None:
    stack = make_stack()
    fetch = stack.engine.decide(
        "WebFetch", {"url": "https://docs.example.com/a", "prompt": ""}, mode="default", cwd=stack.cwd
    )
    read = stack.engine.decide("Read", {"file_path": f"{stack.outside}/notes.txt"}, mode="default", cwd=stack.cwd)
    assert fetch.suggestions == ("WebFetch(domain:docs.example.com)",)
    assert read.suggestions == (f"Read(/{stack.outside}/**)",)


def test_symlink_allow_needs_both_link_and_target(make_stack: Callable[..., Stack]) -> None:
    stack = make_stack()
    target = os.path.join(stack.outside, "secret.txt")
    with open(target, "w") as fh:
        fh.write("x")
    link = os.path.join(stack.cwd, "link.txt")
    os.symlink(target, link)
    decision = stack.engine.decide("Read", {"file_path": link}, mode="default", cwd=stack.cwd)
    assert decision.behavior == "ask"  # the target is outside the working directories


def test_symlink_deny_applies_when_the_target_matches(make_stack: Callable[..., Stack]) -> None:
    probe = make_stack()
    stack = make_stack(user={"permissions": {"deny": [f"Read(/{os.path.realpath(probe.outside)}/**)"]}})
    target = os.path.join(stack.outside, "secret.txt")
    with open(target, "w") as fh:
        fh.write("x")
    link = os.path.join(stack.cwd, "innocent.txt")
    os.symlink(target, link)
    assert stack.engine.decide("Read", {"file_path": link}, mode="default", cwd=stack.cwd).behavior == "deny"


def test_add_directory_extends_the_working_directories(make_stack: Callable[..., Stack]) -> None:
    stack = make_stack()
    read = {"file_path": f"{stack.outside}/a.txt"}
    assert stack.engine.decide("Read", read, mode="default", cwd=stack.cwd).behavior == "ask"
    stack.engine.add_directory(stack.outside)
    assert stack.engine.decide("Read", read, mode="default", cwd=stack.cwd).behavior == "allow"


def test_read_denied_helps_search_tools_filter_results(make_stack: Callable[..., Stack]) -> None:
    stack = make_stack(project={"permissions": {"deny": ["Read(.env)"]}})
    assert stack.engine.read_denied(f"{stack.cwd}/sub/.env")
    assert not stack.engine.read_denied(f"{stack.cwd}/sub/app.py")


def test_plan_mode_reason_tells_the_model_it_is_planning(make_stack: Callable[..., Stack]) -> None:
    stack = make_stack()
    decision = stack.engine.decide("Bash", {"command": "npm install"}, mode="plan", cwd=stack.cwd)
    assert decision.behavior == "deny"
    assert "Plan mode" in decision.reason and "ExitPlanMode" in decision.reason


def test_unknown_mode_decides_as_default_and_says_so(make_stack: Callable[..., Stack]) -> None:
    stack = make_stack()
    decision = stack.engine.decide("Bash", {"command": "npm install"}, mode="auto", cwd=stack.cwd)
    assert decision.behavior == "ask"
    assert "treated as default" in decision.reason


def test_decisions_use_the_callers_cwd_for_relative_paths(make_stack: Callable[..., Stack]) -> None:
    stack = make_stack(project={"permissions": {"deny": ["Read(//etc/**)"]}})
    decision = stack.engine.decide("Bash", {"command": "cat hosts"}, mode="default", cwd="/etc")
    assert decision.behavior == "deny"


def _d(behavior: str, *, rule: str | None = None, source: str = "mode:default") -> PermissionDecision:
    return PermissionDecision(behavior=behavior, rule=rule, source=source, reason="r")  # type: ignore[arg-type]


ASK_RULE = _d("ask", rule="Bash(git push *)", source="/p/.claude/settings.json")
DENY_RULE = _d("deny", rule="Bash(rm *)", source="/p/.claude/settings.json")
ALLOW_RULE = _d("allow", rule="Bash(npm *)", source="cli")


@pytest.mark.parametrize(
    ("hook", "decision", "mode", "expected", "expected_source"),
    [
        (HookOutcome(blocked=True, reason="no"), ALLOW_RULE, "default", "deny", "hook:PreToolUse"),
        (HookOutcome(permission_decision="deny"), ALLOW_RULE, "bypassPermissions", "deny", "hook:PreToolUse"),
        (HookOutcome(permission_decision="allow"), DENY_RULE, "default", "deny", "/p/.claude/settings.json"),
        (HookOutcome(permission_decision="allow"), ASK_RULE, "default", "ask", "/p/.claude/settings.json"),
        (HookOutcome(permission_decision="allow"), _d("ask"), "default", "allow", "hook:PreToolUse"),
        (
            HookOutcome(permission_decision="allow"),
            _d("deny", source="mode:dontAsk"),
            "dontAsk",
            "allow",
            "hook:PreToolUse",
        ),
        (HookOutcome(permission_decision="allow"), _d("deny", source="mode:plan"), "plan", "deny", "mode:plan"),
        (
            HookOutcome(permission_decision="allow"),
            _d("ask", source="builtin:critical-path"),
            "default",
            "ask",
            "builtin:critical-path",
        ),
        (HookOutcome(permission_decision="ask"), ALLOW_RULE, "default", "ask", "hook:PreToolUse"),
        (HookOutcome(permission_decision="ask"), ALLOW_RULE, "dontAsk", "deny", "hook:PreToolUse"),
        (HookOutcome(permission_decision="ask"), DENY_RULE, "default", "deny", "/p/.claude/settings.json"),
        (HookOutcome(), ALLOW_RULE, "default", "allow", "cli"),
        (None, ASK_RULE, "default", "ask", "/p/.claude/settings.json"),
    ],
    ids=[
        "exit-2-block-beats-allow-rule",
        "hook-deny-beats-bypass",
        "docs-hook-allow-never-overrides-deny-rule",
        "docs-hook-allow-does-not-skip-ask-rule",
        "hook-allow-answers-the-mode-prompt",
        "docs-hook-allow-runs-in-dontAsk",
        "hook-allow-does-not-lift-plan-mode",
        "docs-hook-allow-cannot-approve-critical-rm",
        "docs-hook-ask-forces-prompt",
        "hook-ask-in-dontAsk-denies",
        "hook-ask-does-not-weaken-deny",
        "no-hook-decision-keeps-rule",
        "no-hooks-at-all",
    ],
)
def test_combine_applies_claude_code_hook_precedence(
    hook: HookOutcome | None, decision: PermissionDecision, mode: str, expected: str, expected_source: str
) -> None:
    result = combine(hook, decision, mode=mode)
    assert (result.behavior, result.source) == (expected, expected_source)


def test_only_the_modes_own_prompt_is_hook_overridable() -> None:
    assert hook_overridable(_d("ask"))
    assert not hook_overridable(ASK_RULE)
    assert not hook_overridable(_d("ask", source="builtin:protected-path"))


@pytest.mark.parametrize(
    ("rule", "tool", "tool_input", "expected"),
    [
        ("Bash(git *)", "Bash", {"command": "npm test && git push"}, True),
        ("Bash(git *)", "Bash", {"command": "echo $(git rev-parse HEAD)"}, True),
        ("Bash(git *)", "Bash", {"command": "npm test"}, False),
        ("Bash(git *)", "Bash", {"command": "echo 'open"}, True),
        ("Edit(*.ts)", "Write", {"file_path": "/p/a.ts", "content": ""}, True),
        ("Edit(*.ts)", "Edit", {"file_path": "/p/a.py"}, False),
        ("mcp__github", "mcp__github__create_issue", {}, True),
    ],
    ids=[
        "any-subcommand",
        "inside-substitution",
        "no-match",
        "docs-fails-open-when-unparsable",
        "edit-covers-write",
        "path-mismatch",
        "mcp-server",
    ],
)
def test_matches_rule_filters_hook_handlers(rule: str, tool: str, tool_input: dict, expected: bool) -> None:
    assert matches_rule(rule, tool, tool_input, cwd="/p", home="/home/u") is expected


def test_bash_read_through_a_symlink_leaving_the_working_dirs_asks(make_stack: Callable[..., Stack]) -> None:
    stack = make_stack()
    target = os.path.join(stack.outside, "id_rsa")
    with open(target, "w") as fh:
        fh.write("k")
    os.symlink(target, os.path.join(stack.cwd, "key"))
    assert stack.engine.decide("Bash", {"command": "cat key"}, mode="default", cwd=stack.cwd).behavior == "ask"
    assert stack.engine.decide("Bash", {"command": "rm key"}, mode="acceptEdits", cwd=stack.cwd).behavior == "ask"
