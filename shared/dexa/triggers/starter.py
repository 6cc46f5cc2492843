"""The default SessionStarter: a new headless session whose source is the triggering repo, driven in the background."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol

from dexa.core.session import Session, SessionConfig

from .github import SessionStarter, StartedSession, TriggerTask


class _Runtime(Protocol):
    engine: Any
    driver: Any

    async def create_session(
        self,
        *,
        cwd: str,
        model: str | None = None,
        org_id: str = ...,
        user_id: str = ...,
        permission_mode: str | None = None,
        config: SessionConfig | None = None,
        title: str = "",
        session_id: str | None = None,
        parent_id: str | None = None,
    ) -> Session: ...


def runtime_starter(
    runtime: _Runtime,
    *,
    workspace_root: Path,
    session_url: Callable[[str], str] = lambda _s: "",
    permission_mode: str = "acceptEdits",
    model: str | None = None,
    user_id: str = "usr_github",
    run_as: Callable[[TriggerTask], Awaitable[str]] | None = None,
    workspace_for: Callable[[TriggerTask], Path] | None = None,
    remote_root: str | None = None,
) -> SessionStarter:
    """Each trigger gets an empty workspace directory; the repo arrives through the session's `github:` source
    (cloned through the git proxy when the env factory attaches the session's RepoSet). The session runs as
    `run_as(task)` (the org's configured user) or `user_id`, under `workspace_for(task)` or `workspace_root`; who
    asked is kept in the session's config (`requested_by`). With `remote_root` (remote workspaces: a Modal sandbox
    per session) the session's cwd is that path in its own namespace, and nothing is created on this disk."""

    async def start(task: TriggerTask) -> StartedSession:
        session_id = "ses_" + uuid.uuid4().hex[:20]
        if remote_root is not None:
            cwd: Path | str = remote_root
        else:
            cwd = (workspace_for(task) if workspace_for is not None else workspace_root) / session_id
            cwd.mkdir(parents=True, exist_ok=False)
        source = f"github:{task.repo}" + (f"@{task.base}" if task.base else "")
        extra = {"requested_by": f"github:{task.sender}", "trigger": f"{task.repo}#{task.number}"}
        session = await runtime.create_session(
            cwd=str(cwd),
            model=model,
            org_id=task.org_id,
            user_id=await run_as(task) if run_as is not None else user_id,
            permission_mode=permission_mode,
            # No one is there to approve: the PR the prompt asks for is pre-approved (org deny rules still win).
            config=SessionConfig(sources=(source,), headless=True, allowed_tools=("OpenPullRequests",), extra=extra),
            title=f"{task.repo}#{task.number}: {task.title}"[:200],
            session_id=session_id,
        )
        await runtime.engine.submit(session.id, task.prompt)
        runtime.driver.start(session.id)  # a Lambda caller drains the driver before it returns (lambda_entry)
        return StartedSession(session_id=session.id, url=session_url(session.id))

    return start
