"""Triggers that start sessions from outside: the GitHub App webhook (`@dexa` mentions), scheduled prompts
(dexa.triggers.schedules) and, alongside them in `integrations/github-action/`, a GitHub Action running
`dexa run -p` in a workflow.

Nothing is imported eagerly: the scheduler Lambda imports `dexa.triggers.schedules` and must not pay for FastAPI.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dexa.core.lazy import lazy_exports

if TYPE_CHECKING:
    from .github import GitHubTriggers, StartedSession, TriggerResult, TriggerTask
    from .mention import extract_task
    from .starter import runtime_starter
    from .webhook import create_webhook_router

_EXPORTS = {
    "GitHubTriggers": ".github",
    "StartedSession": ".github",
    "TriggerResult": ".github",
    "TriggerTask": ".github",
    "extract_task": ".mention",
    "runtime_starter": ".starter",
    "create_webhook_router": ".webhook",
}


__getattr__ = lazy_exports(__name__, _EXPORTS)


__all__ = [
    "GitHubTriggers",
    "StartedSession",
    "TriggerResult",
    "TriggerTask",
    "create_webhook_router",
    "extract_task",
    "runtime_starter",
]
