"""Hook configuration in Claude Code's shape: event -> matcher groups -> handlers (reference §3.1).

Parsing never raises: each malformed group or handler becomes a `SettingsProblem` and is skipped,
so one bad entry does not disable the file's other hooks.

Part of the settings schema, so it lives in dexa.config (which loads it); dexa.hooks runs what it describes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from .problems import SettingsProblem

HookEvent = Literal[
    "PreToolUse",
    "PostToolUse",
    "UserPromptSubmit",
    "Stop",
    "SubagentStop",
    "SessionStart",
    "SessionEnd",
    "PreCompact",
    "Notification",
    "PermissionRequest",
]
HOOK_EVENTS: tuple[str, ...] = (
    "PreToolUse",
    "PostToolUse",
    "UserPromptSubmit",
    "Stop",
    "SubagentStop",
    "SessionStart",
    "SessionEnd",
    "PreCompact",
    "Notification",
    "PermissionRequest",
)
# Events Claude Code has but Dexa does not fire yet: accepted quietly so a team's file loads unchanged.
_KNOWN_UNSUPPORTED_EVENTS = frozenset(
    {
        "PostToolUseFailure",
        "PostToolBatch",
        "UserPromptExpansion",
        "MessageDisplay",
        "PermissionDenied",
        "SubagentStart",
        "TaskCreated",
        "TaskCompleted",
        "StopFailure",
        "TeammateIdle",
        "ConfigChange",
        "CwdChanged",
        "DirectoryAdded",
        "FileChanged",
        "WorktreeCreate",
        "WorktreeRemove",
        "PostCompact",
        "Elicitation",
        "ElicitationResult",
        "Setup",
        "InstructionsLoaded",
    }
)
# Events whose matcher filters something; on the others a matcher is silently ignored (reference §3.1).
MATCHER_EVENTS = frozenset(
    {"PreToolUse", "PostToolUse", "PermissionRequest", "SessionStart", "SessionEnd", "PreCompact", "Notification"}
    | {"SubagentStop"}
)
TOOL_EVENTS = frozenset({"PreToolUse", "PostToolUse", "PermissionRequest"})
_EXACT_MATCHER = re.compile(r"^[A-Za-z0-9_\- ,|]+$")


@dataclass(frozen=True, slots=True, kw_only=True)
class HookHandler:
    type: Literal["command", "http"]
    source: str
    scope: str
    command: str = ""
    args: tuple[str, ...] | None = None
    url: str = ""
    headers: tuple[tuple[str, str], ...] = ()
    allowed_env_vars: tuple[str, ...] = ()
    timeout: float | None = None
    # A permission-rule string that further filters tool events (`if` in Claude Code).
    if_rule: str | None = None
    status_message: str = ""

    def identity(self) -> tuple[Any, ...]:
        """What makes two handlers 'defined identically' for de-duplication across files."""
        return (self.type, self.command, self.args, self.url, self.headers, self.timeout, self.if_rule)


@dataclass(frozen=True, slots=True, kw_only=True)
class HookMatcherGroup:
    event: str
    matcher: str | None
    handlers: tuple[HookHandler, ...]
    source: str
    scope: str
    _regex: re.Pattern[str] | None = field(default=None, compare=False, repr=False)
    _names: frozenset[str] | None = field(default=None, compare=False, repr=False)

    def matches(self, target: str | None) -> bool:
        if self.event not in MATCHER_EVENTS or (self._names is None and self._regex is None):
            return True
        if target is None:
            return False
        if self._names is not None:
            return target in self._names
        assert self._regex is not None
        return self._regex.search(target) is not None


@dataclass(frozen=True, slots=True)
class HooksConfig:
    groups: tuple[HookMatcherGroup, ...] = ()

    def handlers_for(self, event: str, target: str | None) -> list[HookHandler]:
        """Matching handlers in configuration order, identical ones from several files kept once."""
        seen: set[tuple[Any, ...]] = set()
        out: list[HookHandler] = []
        for group in self.groups:
            if group.event != event or not group.matches(target):
                continue
            for handler in group.handlers:
                key = handler.identity()
                if key not in seen:
                    seen.add(key)
                    out.append(handler)
        return out

    def events(self) -> set[str]:
        return {g.event for g in self.groups}


def compile_matcher(matcher: str | None) -> tuple[frozenset[str] | None, re.Pattern[str] | None]:
    """`*`/empty -> everything; `[A-Za-z0-9_- ,|]` only -> exact names; else an unanchored regex."""
    if matcher is None or matcher.strip() in ("", "*"):
        return None, None
    if _EXACT_MATCHER.match(matcher):
        names = frozenset(p.strip() for p in re.split(r"[|,]", matcher) if p.strip())
        return names, None
    return None, re.compile(matcher)


def parse_hooks(raw: object, *, source: str, scope: str) -> tuple[list[HookMatcherGroup], list[SettingsProblem]]:
    problems: list[SettingsProblem] = []
    groups: list[HookMatcherGroup] = []
    if not isinstance(raw, Mapping):
        return [], [SettingsProblem(source, "hooks", f"expected an object, got {_kind(raw)}")]
    for event, entries in raw.items():
        key = f"hooks.{event}"
        if event not in HOOK_EVENTS:
            if event not in _KNOWN_UNSUPPORTED_EVENTS:
                problems.append(SettingsProblem(source, key, f"unknown hook event {event!r}; skipped"))
            continue
        if not isinstance(entries, list):
            problems.append(SettingsProblem(source, key, f"expected a list of matcher groups, got {_kind(entries)}"))
            continue
        for i, entry in enumerate(entries):
            group = _parse_group(event, entry, key=f"{key}[{i}]", source=source, scope=scope, problems=problems)
            if group is not None:
                groups.append(group)
    return groups, problems


def _parse_group(
    event: str, entry: object, *, key: str, source: str, scope: str, problems: list[SettingsProblem]
) -> HookMatcherGroup | None:
    if not isinstance(entry, Mapping):
        problems.append(SettingsProblem(source, key, f"expected an object, got {_kind(entry)}"))
        return None
    matcher = entry.get("matcher")
    if matcher is not None and not isinstance(matcher, str):
        problems.append(SettingsProblem(source, f"{key}.matcher", "expected a string; group skipped"))
        return None
    try:
        names, regex = compile_matcher(matcher)
    except re.error as exc:
        problems.append(SettingsProblem(source, f"{key}.matcher", f"invalid regex {matcher!r}: {exc}; group skipped"))
        return None
    raw_handlers = entry.get("hooks")
    if not isinstance(raw_handlers, list):
        problems.append(SettingsProblem(source, f"{key}.hooks", f"expected a list, got {_kind(raw_handlers)}"))
        return None
    handlers: list[HookHandler] = []
    for j, raw_handler in enumerate(raw_handlers):
        handler = _parse_handler(raw_handler, key=f"{key}.hooks[{j}]", source=source, scope=scope, problems=problems)
        if handler is not None:
            handlers.append(handler)
    if not handlers:
        return None
    return HookMatcherGroup(
        event=event,
        matcher=matcher,
        handlers=tuple(handlers),
        source=source,
        scope=scope,
        _regex=regex,
        _names=names,
    )


def _parse_handler(
    raw: object, *, key: str, source: str, scope: str, problems: list[SettingsProblem]
) -> HookHandler | None:
    if not isinstance(raw, Mapping):
        problems.append(SettingsProblem(source, key, f"expected an object, got {_kind(raw)}"))
        return None
    kind = raw.get("type", "command")
    if kind not in ("command", "http"):
        problems.append(SettingsProblem(source, f"{key}.type", f"hook type {kind!r} is not supported by Dexa; skipped"))
        return None
    timeout = raw.get("timeout")
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0):
        problems.append(SettingsProblem(source, f"{key}.timeout", "expected a positive number of seconds; skipped"))
        return None
    if_rule = raw.get("if")
    if if_rule is not None and not isinstance(if_rule, str):
        problems.append(SettingsProblem(source, f"{key}.if", "expected a permission-rule string; skipped"))
        return None
    common: dict[str, Any] = {
        "source": source,
        "scope": scope,
        "timeout": float(timeout) if timeout is not None else None,
        "if_rule": if_rule,
        "status_message": str(raw.get("statusMessage") or ""),
    }
    if kind == "command":
        command = raw.get("command")
        if not isinstance(command, str) or not command.strip():
            problems.append(SettingsProblem(source, f"{key}.command", "expected a non-empty string; skipped"))
            return None
        args = raw.get("args")
        if args is not None and not _is_str_list(args):
            problems.append(SettingsProblem(source, f"{key}.args", "expected a list of strings; skipped"))
            return None
        return HookHandler(type="command", command=command, args=tuple(args) if args is not None else None, **common)
    url = raw.get("url")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        problems.append(SettingsProblem(source, f"{key}.url", "expected an http(s) URL; skipped"))
        return None
    headers = raw.get("headers") or {}
    if not isinstance(headers, Mapping) or not all(isinstance(v, str) for v in headers.values()):
        problems.append(SettingsProblem(source, f"{key}.headers", "expected an object of strings; skipped"))
        return None
    allowed = raw.get("allowedEnvVars") or []
    if not _is_str_list(allowed):
        problems.append(SettingsProblem(source, f"{key}.allowedEnvVars", "expected a list of strings; skipped"))
        return None
    return HookHandler(
        type="http",
        url=url,
        headers=tuple((str(k), str(v)) for k, v in headers.items()),
        allowed_env_vars=tuple(allowed),
        **common,
    )


def _is_str_list(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _kind(value: object) -> str:
    return {dict: "object", list: "list", str: "string", bool: "boolean", type(None): "null"}.get(
        type(value), type(value).__name__
    )


def filter_groups(
    groups: Sequence[HookMatcherGroup], *, disable_non_managed: bool, disable_managed: bool, managed_only: bool
) -> tuple[HookMatcherGroup, ...]:
    """Apply `disableAllHooks` / `allowManagedHooksOnly` (reference §1.6)."""
    out: list[HookMatcherGroup] = []
    for group in groups:
        managed = group.scope == "managed"
        if managed and disable_managed:
            continue
        if not managed and (disable_non_managed or managed_only):
            continue
        out.append(group)
    return tuple(out)
