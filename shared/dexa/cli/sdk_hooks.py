"""Hooks registered by an Agent SDK program, answered over the control channel (`hook_callback`).

The SDK's `initialize` request lists, per event, matcher groups with callback ids. When the event fires, each
matching callback is asked in turn with the same JSON a command hook gets on stdin; its answer is Claude Code's
hook output JSON, read by the same rules as a command hook's stdout. They run after the session's own hooks
(settings, plugins), and the answers fold together as several hooks' do (any block blocks; deny > ask > allow).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dexa.config.hooks import HookHandler, compile_matcher
from dexa.core.ports import HookOutcome, HookRunner
from dexa.hooks.protocol import HookResult, apply_json, merge
from dexa.hooks.runner import DEFAULT_TIMEOUT_S

from .control import ControlChannel, ControlError

logger = logging.getLogger(__name__)

_SDK_HANDLER = HookHandler(type="command", source="Agent SDK", scope="session", command="sdk-hook-callback")
# Which payload field a matcher filters on (dexa.hooks.runner does the same for settings hooks).
_MATCH_FIELD = {"PreToolUse": "tool_name", "PostToolUse": "tool_name", "PermissionRequest": "tool_name"}


@dataclass(frozen=True, slots=True)
class SdkMatcher:
    event: str
    matcher: str | None
    callback_ids: tuple[str, ...]
    timeout: float | None

    def matches(self, target: str | None) -> bool:
        names, regex = compile_matcher(self.matcher)
        if names is None and regex is None:
            return True
        if target is None:
            return False
        return target in names if names is not None else bool(regex and regex.search(target))


def parse_sdk_hooks(raw: object) -> list[SdkMatcher]:
    """The `hooks` of an initialize request: {event: [{matcher, hookCallbackIds, timeout?}]}."""
    out: list[SdkMatcher] = []
    if not isinstance(raw, Mapping):
        return out
    for event, groups in raw.items():
        for group in groups if isinstance(groups, list) else []:
            if not isinstance(group, Mapping):
                continue
            ids = tuple(str(i) for i in group.get("hookCallbackIds") or [])
            timeout = group.get("timeout")
            matcher = group.get("matcher")
            out.append(
                SdkMatcher(
                    event=str(event),
                    matcher=matcher if isinstance(matcher, str) else None,
                    callback_ids=ids,
                    timeout=float(timeout) if isinstance(timeout, int | float) else None,
                )
            )
    return out


class SdkHookRunner:
    """A HookRunner: the session's own hooks, then the SDK's callbacks for the same event."""

    def __init__(self, inner: HookRunner | None, channel: ControlChannel, matchers: list[SdkMatcher]) -> None:
        self.inner = inner
        self.channel = channel
        self.matchers = matchers

    def __getattr__(self, name: str) -> Any:  # the session's runner may offer more than the port (run_detailed...)
        if self.inner is None:
            raise AttributeError(name)
        return getattr(self.inner, name)

    async def run(self, event: str, payload: Mapping[str, Any], *, match: str | None = None) -> HookOutcome:
        own = await self.inner.run(event, payload, match=match) if self.inner is not None else HookOutcome()
        target = match if match is not None else payload.get(_MATCH_FIELD.get(event, ""))
        chosen = [m for m in self.matchers if m.event == event and m.matches(None if target is None else str(target))]
        if not chosen:
            return own
        results = [_as_result(own, event)]
        body = {"hook_event_name": event, **payload}
        for matcher in chosen:
            for callback_id in matcher.callback_ids:
                results.append(await self._ask(event, callback_id, body, matcher.timeout))
        return merge(results)

    async def _ask(self, event: str, callback_id: str, body: Mapping[str, Any], timeout: float | None) -> HookResult:
        result = HookResult(handler=_SDK_HANDLER, event=event, exit_code=0)
        request = {
            "subtype": "hook_callback",
            "callback_id": callback_id,
            "input": dict(body),
            "tool_use_id": body.get("tool_use_id"),
        }
        try:
            answer = await self.channel.request(request, timeout=timeout or DEFAULT_TIMEOUT_S)
        except ControlError as exc:
            # As for a command hook that fails: reported, never blocking.
            logger.warning("%s hook callback %s failed: %s", event, callback_id, exc)
            result.error = f"{event} SDK hook {callback_id} failed: {exc}"
            return result
        apply_json(result, answer)
        return result


def _as_result(outcome: HookOutcome, event: str) -> HookResult:
    result = HookResult(handler=_SDK_HANDLER, event=event, exit_code=0)
    result.blocked = outcome.blocked
    result.reason = outcome.reason
    result.permission_decision = outcome.permission_decision
    result.updated_input = outcome.updated_input
    result.additional_context = outcome.additional_context
    result.system_message = outcome.system_message
    result.stop = outcome.stop
    result.stop_reason = outcome.stop_reason
    result.suppress_output = outcome.suppress_output
    return result
