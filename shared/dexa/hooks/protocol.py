"""Claude Code's hook I/O protocol (reference §3.3-§3.5): what a hook's exit code, stdout and stderr mean,
and how several hooks' answers combine into one `HookOutcome`."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from dexa.config.hooks import HookHandler
from dexa.core.ports import HookOutcome

CONTEXT_CAP = 10_000
# Exit 2 blocks on these events; elsewhere it is only reported (reference §3.2).
BLOCKING_EVENTS = frozenset({"PreToolUse", "PostToolUse", "UserPromptSubmit", "Stop", "SubagentStop", "PreCompact"})
# Top-level `decision: "block"` is honoured on these.
BLOCK_DECISION_EVENTS = frozenset({"UserPromptSubmit", "PostToolUse", "Stop", "SubagentStop", "PreCompact"})
# Plain (non-JSON) stdout on exit 0 becomes context only here.
PLAIN_CONTEXT_EVENTS = frozenset({"UserPromptSubmit", "SessionStart"})
_RANK = {"allow": 1, "ask": 2, "deny": 3}

Decision = Literal["allow", "deny", "ask"]


@dataclass(slots=True)
class HookResult:
    """One handler's run, interpreted. `error` is a non-blocking problem to report (never raised)."""

    handler: HookHandler
    event: str
    exit_code: int | None = None
    stdout: str = ""
    stderr: str = ""
    timed_out: bool = False
    error: str = ""
    blocked: bool = False
    reason: str = ""
    permission_decision: Decision | None = None
    updated_input: dict[str, Any] | None = None
    additional_context: str = ""
    system_message: str = ""
    stop: bool = False
    stop_reason: str = ""
    suppress_output: bool = False
    duration_ms: int = 0
    output: dict[str, Any] = field(default_factory=dict)  # the parsed JSON, for fields Dexa does not model

    def to_event(self) -> dict[str, Any]:
        return {
            "event": self.event,
            "source": self.handler.source,
            "type": self.handler.type,
            "command": self.handler.command or self.handler.url,
            "exit_code": self.exit_code,
            "timed_out": self.timed_out,
            "error": self.error,
            "blocked": self.blocked,
            "decision": self.permission_decision,
            "duration_ms": self.duration_ms,
        }


def cap(text: str) -> str:
    if len(text) <= CONTEXT_CAP:
        return text
    return text[:CONTEXT_CAP] + f"\n[hook output truncated: {len(text) - CONTEXT_CAP} more characters]"


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def _parse_json(stdout: str) -> tuple[dict[str, Any] | None, str]:
    """(object, error). Only stdout starting with `{` (after whitespace) counts as JSON output."""
    if not stdout.lstrip().startswith("{"):
        return None, ""
    try:
        data = json.loads(stdout)
    except json.JSONDecodeError as exc:
        return None, f"invalid JSON output at line {exc.lineno}, column {exc.colno}: {exc.msg}"
    if not isinstance(data, dict):
        return None, "JSON output is not an object"
    return data, ""


def interpret_command(result: HookResult) -> HookResult:
    """Fill the decision fields of a finished `command` hook from exit code, stdout and stderr."""
    name = result.handler.command.split()[0] if result.handler.command else "hook"
    if result.timed_out:
        result.error = f"{result.event} hook {name} timed out; output discarded"
        return result
    data, json_error = _parse_json(result.stdout)
    code = result.exit_code
    if code == 2:
        if data is not None:
            apply_json(result, data)
            result.permission_decision = "deny" if result.event == "PreToolUse" else result.permission_decision
        block_reason = result.reason or result.stderr.strip() or f"{result.event} hook {name} exited with status 2"
        if result.event in BLOCKING_EVENTS:
            result.blocked, result.reason = True, cap(block_reason)
            if result.event == "PreToolUse":
                result.permission_decision = "deny"
        else:
            result.error = f"{result.event} hook {name} exited 2: {_first_line(result.stderr)}"
            if result.event == "SessionStart":
                result.system_message = cap(result.stderr.strip())
        return result
    if code != 0:
        if data is not None:
            apply_json(result, data)  # a schema-valid JSON object alone decides; no error shown
            return result
        detail = _first_line(result.stderr) or json_error
        result.error = f"{result.event} hook {name} error: Failed with non-blocking status code {code}: {detail}"
        return result
    if data is not None:
        apply_json(result, data)
    elif json_error:
        result.error = f"{result.event} hook {name}: {json_error}"
    elif result.event in PLAIN_CONTEXT_EVENTS and result.stdout.strip():
        result.additional_context = cap(result.stdout.strip())
    return result


def interpret_http(result: HookResult, status: int, body: str) -> HookResult:
    """2xx + empty body: success; 2xx + JSON object: its output; anything else: a non-blocking error."""
    result.exit_code = status
    if result.timed_out:
        result.error = f"{result.event} http hook {result.handler.url} timed out"
        return result
    if not 200 <= status < 300:
        result.error = f"{result.event} http hook {result.handler.url} returned HTTP {status}"
        return result
    if not body.strip():
        return result
    data, json_error = _parse_json(body)
    if data is None:
        result.error = f"{result.event} http hook {result.handler.url}: {json_error or 'response is not a JSON object'}"
        return result
    apply_json(result, data)
    return result


def apply_json(result: HookResult, data: Mapping[str, Any]) -> None:
    event = result.event
    result.output = dict(data)
    if data.get("continue") is False:
        result.stop = True
        result.stop_reason = str(data.get("stopReason") or "")
    result.suppress_output = data.get("suppressOutput") is True
    if isinstance(data.get("systemMessage"), str):
        result.system_message = cap(data["systemMessage"])
    decision, reason = data.get("decision"), data.get("reason")
    if event == "PreToolUse" and decision in ("approve", "block"):  # deprecated names (reference §3.5)
        result.permission_decision = "allow" if decision == "approve" else "deny"
        result.reason = str(reason or "")
    elif decision == "block" and event in BLOCK_DECISION_EVENTS:
        result.blocked = True
        result.reason = cap(str(reason or f"blocked by {event} hook"))
    specific = data.get("hookSpecificOutput")
    if specific is None:
        return
    if not isinstance(specific, Mapping) or specific.get("hookEventName") != event:
        result.error = f"{event} hook output ignored: hookSpecificOutput.hookEventName must be {event!r}"
        return
    if isinstance(specific.get("additionalContext"), str):
        result.additional_context = cap(specific["additionalContext"])
    if event == "PreToolUse":
        _apply_pre_tool_use(result, specific)
    elif event == "PermissionRequest" and isinstance(specific.get("decision"), Mapping):
        _apply_permission_request(result, specific["decision"])


def _apply_pre_tool_use(result: HookResult, specific: Mapping[str, Any]) -> None:
    pd = specific.get("permissionDecision")
    if pd in ("allow", "deny", "ask"):
        result.permission_decision = pd
    elif pd == "defer":
        result.permission_decision = "ask"  # Dexa has no deferred tool calls: a human decides instead
    elif pd is not None:
        result.error = f"PreToolUse hook returned unknown permissionDecision {pd!r}"
    if isinstance(specific.get("permissionDecisionReason"), str):
        result.reason = specific["permissionDecisionReason"]
    if isinstance(specific.get("updatedInput"), Mapping):
        result.updated_input = dict(specific["updatedInput"])


def _apply_permission_request(result: HookResult, answer: Mapping[str, Any]) -> None:
    behavior = answer.get("behavior")
    if behavior in ("allow", "deny"):
        result.permission_decision = behavior
    if isinstance(answer.get("updatedInput"), Mapping):
        result.updated_input = dict(answer["updatedInput"])
    if isinstance(answer.get("message"), str):
        result.reason = answer["message"]
    if answer.get("interrupt") is True:
        result.stop = True


def merge(results: Sequence[HookResult]) -> HookOutcome:
    """Several hooks, one answer: any block blocks; deny > ask > allow; context and messages concatenate."""
    decision: Decision | None = None
    for r in results:
        if r.permission_decision and (decision is None or _RANK[r.permission_decision] > _RANK[decision]):
            decision = r.permission_decision
    blocked = [r for r in results if r.blocked]
    if blocked:
        reason = "\n".join(r.reason for r in blocked if r.reason)
    else:
        reason = "\n".join(r.reason for r in results if r.reason and r.permission_decision == decision)
    updated: dict[str, Any] | None = None
    if decision != "deny" and not blocked:
        for r in results:  # the last hook that supports the winning decision provides the input
            if r.updated_input is not None and r.permission_decision in (decision, None):
                updated = r.updated_input
    return HookOutcome(
        blocked=bool(blocked),
        reason=reason,
        permission_decision=decision,
        updated_input=updated,
        additional_context="\n\n".join(r.additional_context for r in results if r.additional_context),
        system_message="\n".join(r.system_message for r in results if r.system_message),
        stop=any(r.stop for r in results),
        stop_reason="\n".join(r.stop_reason for r in results if r.stop_reason),
        suppress_output=any(r.suppress_output for r in results),
    )
