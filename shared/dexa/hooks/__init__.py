"""Hooks with Claude Code's configuration shape and JSON protocol (reference §3)."""

from __future__ import annotations

from dexa.config.hooks import HOOK_EVENTS, HookHandler, HookMatcherGroup, HooksConfig, parse_hooks

from .protocol import HookResult, merge
from .runner import HookRun, SettingsHookRunner, subprocess_executor, workspace_executor

__all__ = [
    "HOOK_EVENTS",
    "HookHandler",
    "HookMatcherGroup",
    "HookResult",
    "HookRun",
    "HooksConfig",
    "SettingsHookRunner",
    "merge",
    "parse_hooks",
    "subprocess_executor",
    "workspace_executor",
]
