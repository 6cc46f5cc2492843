"""Starting a session for someone outside the API: an email, a Slack mention or DM, a templated webhook.

Every inbound trigger ends here with an `InboundTask`: the org, the Dexa user the sender maps to, the prompt, who
asked (`requested_by`, e.g. `email:ana@acme.example`) and where they hear back (`reply_to`). The session runs as
that user: it must be an enabled member of the org whose role may start sessions, and it gets the org's settings
and permission rules like any session that user starts through the API. It is not headless: a tool call that asks
waits for a reviewer, who is told (dexa.integrations.review_notify), as are reviewers of the outputs it stages.

Each trigger is processed once: `claim` keys it (a Message-ID, a Slack event_id, a webhook delivery id), and the
claim is released when starting fails so a retry of the same delivery can succeed.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dexa.auth.models import ROLE_SCOPES, User
from dexa.auth.service import AuthService
from dexa.core.errors import PermissionDeniedError
from dexa.core.ports import KeyValueStore
from dexa.core.session import SessionConfig

logger = logging.getLogger(__name__)

CLAIMS = "inbound_triggers"  # org-scoped: "{source}:{key}" -> {session_id}
_TITLE_LIMIT = 120


@dataclass(frozen=True, slots=True, kw_only=True)
class InboundTask:
    org_id: str
    user_id: str
    prompt: str
    requested_by: str
    source: str  # "email" | "slack" | "webhook"
    title: str = ""
    reply_to: Mapping[str, str] = field(default_factory=dict)


async def requester(kv: KeyValueStore, org_id: str, user_id: str) -> User:
    """The user a trigger acts for, when they may start sessions.

    Raises:
        NotFoundError: no such user in the org (another org's user ids are unknown here, as everywhere).
        PermissionDeniedError: disabled, or a role without sessions:write (e.g. a reviewer).
    """
    user = await AuthService(kv).get_user(org_id, user_id)
    if user.disabled:
        raise PermissionDeniedError(f"user {user_id} is disabled", code="forbidden")
    if "sessions:write" not in ROLE_SCOPES[user.role]:
        raise PermissionDeniedError(f"user {user_id} (role {user.role}) may not start sessions", code="forbidden")
    return user


async def claim(kv: KeyValueStore, org_id: str, source: str, key: str) -> bool:
    """True the first time (source, key) is seen in the org."""
    return await kv.kv_put_if_absent(CLAIMS, f"{source}:{key}", {"state": "starting"}, org_id=org_id)


async def release(kv: KeyValueStore, org_id: str, source: str, key: str) -> None:
    await kv.kv_delete(CLAIMS, f"{source}:{key}", org_id=org_id)


def session_title(source: str, text: str) -> str:
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return f"{source}: {first}"[:_TITLE_LIMIT]


Starter = Callable[[InboundTask], Awaitable[str]]


def runtime_starter(runtime: Any, *, workspace_for: Callable[[str], Path]) -> Starter:
    """Start sessions on `runtime` (call on the engine's loop): each gets a fresh directory under its org's
    workspace root (`workspace_for(org_id)`), runs as the task's user and is driven in the background."""

    async def start(task: InboundTask) -> str:
        await requester(runtime.store, task.org_id, task.user_id)
        session_id = "ses_" + uuid.uuid4().hex[:20]
        if getattr(runtime.settings, "sandbox", "") == "modal":
            from dexa.adapters.modal.image import WORKDIR

            cwd = WORKDIR
        else:
            path = workspace_for(task.org_id) / session_id
            path.mkdir(parents=True, exist_ok=False, mode=0o700)
            cwd = str(path)
        extra: dict[str, Any] = {"requested_by": task.requested_by, "trigger": task.source}
        if task.reply_to:
            extra["reply_to"] = dict(task.reply_to)
        session = await runtime.create_session(
            cwd=cwd,
            org_id=task.org_id,
            user_id=task.user_id,
            config=SessionConfig(extra=extra),
            title=task.title or session_title(task.source, task.prompt),
            session_id=session_id,
        )
        await runtime.engine.submit(session.id, task.prompt)
        runtime.driver.start(session.id)
        logger.info("%s trigger from %s started session %s", task.source, task.requested_by, session.id)
        return session.id

    return start
