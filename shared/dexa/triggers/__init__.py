"""Triggers that start sessions from outside: the GitHub App webhook (`@dexa` mentions) and, alongside it in
`integrations/github-action/`, a GitHub Action running `dexa run -p` in a workflow."""

from __future__ import annotations

from .github import GitHubTriggers, StartedSession, TriggerResult, TriggerTask
from .mention import extract_task
from .starter import runtime_starter
from .webhook import create_webhook_router

__all__ = [
    "GitHubTriggers",
    "StartedSession",
    "TriggerResult",
    "TriggerTask",
    "create_webhook_router",
    "extract_task",
    "runtime_starter",
]
