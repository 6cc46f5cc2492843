"""Exit codes and JSON output of one hook, and how several hooks combine (reference §3.4-§3.5)."""

from __future__ import annotations

import json

import pytest

from dexa.config.hooks import HookHandler
from dexa.hooks.protocol import CONTEXT_CAP, HookResult, interpret_command, interpret_http, merge

HANDLER = HookHandler(type="command", command="check.sh", source="s", scope="project")


def run(event: str, code: int, stdout: object = "", stderr: str = "") -> HookResult:
    out = stdout if isinstance(stdout, str) else json.dumps(stdout)
    return interpret_command(HookResult(handler=HANDLER, event=event, exit_code=code, stdout=out, stderr=stderr))


def test_exit_0_plain_stdout_is_context_only_for_prompt_and_session_start() -> None:
    assert run("UserPromptSubmit", 0, "today is Friday").additional_context == "today is Friday"
    assert run("SessionStart", 0, "branch: main").additional_context == "branch: main"
    assert run("PreToolUse", 0, "debug noise").additional_context == ""


@pytest.mark.parametrize(
    "event", ["PreToolUse", "PostToolUse", "UserPromptSubmit", "Stop", "SubagentStop", "PreCompact"]
)
def test_exit_2_blocks_with_stderr_as_reason_on_blocking_events(event: str) -> None:
    result = run(event, 2, "", "not allowed: secrets\nmore")
    assert result.blocked and result.reason.startswith("not allowed: secrets")
    assert result.error == ""


@pytest.mark.parametrize("event", ["SessionEnd", "Notification", "PermissionRequest"])
def test_exit_2_on_non_blocking_events_is_only_reported(event: str) -> None:
    result = run(event, 2, "", "nope")
    assert not result.blocked and "nope" in result.error


def test_docs_exit_2_on_session_start_shows_stderr_to_the_user() -> None:
    assert run("SessionStart", 2, "", "setup failed").system_message == "setup failed"


def test_docs_json_allow_cannot_override_exit_2() -> None:
    out = {"hookSpecificOutput": {"hookEventName": "PreToolUse", "permissionDecision": "allow"}}
    result = run("PreToolUse", 2, out, "blocked by policy")
    assert result.blocked and result.permission_decision == "deny"
    assert result.reason == "blocked by policy"


def test_docs_exit_2_prefers_the_json_reason() -> None:
    out = {"hookSpecificOutput": {"hookEventName": "PreToolUse", "permissionDecisionReason": "json reason"}}
    assert run("PreToolUse", 2, out, "stderr reason").reason == "json reason"


def test_other_exit_codes_are_non_blocking_errors_with_first_stderr_line() -> None:
    result = run("PreToolUse", 1, "", "\nboom\nstack")
    assert not result.blocked and result.permission_decision is None
    assert "Failed with non-blocking status code 1: boom" in result.error


def test_docs_nonzero_exit_with_valid_json_lets_the_json_decide() -> None:
    out = {
        "hookSpecificOutput": {
            "hookEventName": "PreToolUse",
            "permissionDecision": "deny",
            "permissionDecisionReason": "r",
        }
    }
    result = run("PreToolUse", 1, out)
    assert (result.permission_decision, result.reason, result.error) == ("deny", "r", "")


@pytest.mark.parametrize("decision", ["allow", "deny", "ask"])
def test_pre_tool_use_permission_decisions(decision: str) -> None:
    out = {
        "hookSpecificOutput": {
            "hookEventName": "PreToolUse",
            "permissionDecision": decision,
            "permissionDecisionReason": f"because {decision}",
            "updatedInput": {"command": "ls"},
            "additionalContext": "ctx",
        }
    }
    result = run("PreToolUse", 0, out)
    assert (result.permission_decision, result.reason, result.updated_input, result.additional_context) == (
        decision,
        f"because {decision}",
        {"command": "ls"},
        "ctx",
    )


@pytest.mark.parametrize(("legacy", "decision"), [("approve", "allow"), ("block", "deny")])
def test_docs_legacy_pre_tool_use_decision_names(legacy: str, decision: str) -> None:
    result = run("PreToolUse", 0, {"decision": legacy, "reason": "legacy"})
    assert (result.permission_decision, result.reason) == (decision, "legacy")


def test_defer_becomes_ask_in_dexa() -> None:
    out = {"hookSpecificOutput": {"hookEventName": "PreToolUse", "permissionDecision": "defer"}}
    assert run("PreToolUse", 0, out).permission_decision == "ask"


@pytest.mark.parametrize("event", ["UserPromptSubmit", "PostToolUse", "Stop", "SubagentStop", "PreCompact"])
def test_top_level_decision_block_blocks(event: str) -> None:
    result = run(event, 0, {"decision": "block", "reason": "keep going"})
    assert result.blocked and result.reason == "keep going"


def test_continue_false_stops_with_stop_reason_and_other_common_fields() -> None:
    result = run(
        "PostToolUse",
        0,
        {"continue": False, "stopReason": "done for today", "systemMessage": "warn", "suppressOutput": True},
    )
    assert (result.stop, result.stop_reason, result.system_message, result.suppress_output) == (
        True,
        "done for today",
        "warn",
        True,
    )


def test_hook_specific_output_must_name_the_event() -> None:
    result = run(
        "PreToolUse", 0, {"hookSpecificOutput": {"hookEventName": "PostToolUse", "permissionDecision": "deny"}}
    )
    assert result.permission_decision is None and "hookEventName" in result.error


def test_permission_request_decision() -> None:
    out = {
        "hookSpecificOutput": {
            "hookEventName": "PermissionRequest",
            "decision": {"behavior": "deny", "message": "no", "interrupt": True},
        }
    }
    result = run("PermissionRequest", 0, out)
    assert (result.permission_decision, result.reason, result.stop) == ("deny", "no", True)


def test_invalid_json_stdout_is_reported() -> None:
    result = run("PreToolUse", 0, "{not json")
    assert "invalid JSON output" in result.error and result.permission_decision is None


def test_docs_context_is_capped_at_10000_characters() -> None:
    result = run("UserPromptSubmit", 0, "x" * (CONTEXT_CAP + 500))
    assert result.additional_context.startswith("x" * CONTEXT_CAP)
    assert "truncated: 500 more characters" in result.additional_context


def test_timeout_is_an_error_without_a_decision() -> None:
    result = interpret_command(HookResult(handler=HANDLER, event="PreToolUse", timed_out=True))
    assert not result.blocked and result.permission_decision is None and "timed out" in result.error


@pytest.mark.parametrize(
    ("status", "body", "decision", "error"),
    [
        (200, "", None, False),
        (204, "", None, False),
        (
            200,
            json.dumps({"hookSpecificOutput": {"hookEventName": "PreToolUse", "permissionDecision": "deny"}}),
            "deny",
            False,
        ),
        (200, "ok", None, True),
        (500, json.dumps({"decision": "block"}), None, True),
        (403, "", None, True),
    ],
    ids=[
        "empty-2xx",
        "no-content",
        "json-decision",
        "docs-non-json-2xx-is-error",
        "docs-non-2xx-cannot-block",
        "docs-status-alone-cannot-block",
    ],
)
def test_http_responses(status: int, body: str, decision: str | None, error: bool) -> None:
    handler = HookHandler(type="http", url="http://h/x", source="s", scope="project")
    result = interpret_http(HookResult(handler=handler, event="PreToolUse"), status, body)
    assert result.permission_decision == decision and bool(result.error) is error and not result.blocked


def _decided(decision: str | None, reason: str = "", updated: dict | None = None) -> HookResult:
    r = HookResult(handler=HANDLER, event="PreToolUse", permission_decision=decision, reason=reason)  # type: ignore[arg-type]
    r.updated_input = updated
    return r


def test_merge_deny_beats_ask_beats_allow() -> None:
    assert merge([_decided("allow"), _decided("ask", "why ask")]).permission_decision == "ask"
    outcome = merge([_decided("allow"), _decided("deny", "why deny"), _decided("ask")])
    assert (outcome.permission_decision, outcome.reason) == ("deny", "why deny")


def test_merge_any_block_blocks_and_context_concatenates() -> None:
    a = _decided(None)
    a.additional_context, a.system_message = "one", "m1"
    b = _decided("allow")
    b.blocked, b.reason, b.additional_context, b.system_message = True, "stop", "two", "m2"
    outcome = merge([a, b])
    assert (outcome.blocked, outcome.reason, outcome.additional_context, outcome.system_message) == (
        True,
        "stop",
        "one\n\ntwo",
        "m1\nm2",
    )


def test_merge_takes_updated_input_from_the_winning_decision() -> None:
    outcome = merge([_decided("allow", updated={"command": "a"}), _decided("ask", updated={"command": "b"})])
    assert outcome.updated_input == {"command": "b"}
    assert merge([_decided("deny", updated={"command": "x"})]).updated_input is None
