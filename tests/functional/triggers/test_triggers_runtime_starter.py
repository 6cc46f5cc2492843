"""The default starter: a headless session whose source is the triggering repo, submitted and driven."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from dexa.core.session import Session, SessionConfig
from dexa.triggers import StartedSession, TriggerTask, runtime_starter


class StubRuntime:
    def __init__(self) -> None:
        self.created: list[dict[str, Any]] = []
        self.submitted: list[tuple[str, str]] = []
        self.started: list[str] = []
        runtime = self

        class Engine:
            async def submit(self, session_id: str, prompt: str) -> None:
                runtime.submitted.append((session_id, prompt))

        class Driver:
            def start(self, session_id: str) -> None:
                runtime.started.append(session_id)

        self.engine, self.driver = Engine(), Driver()

    async def create_session(self, **kw: Any) -> Session:
        self.created.append(kw)
        config: SessionConfig = kw["config"]
        return Session(
            id=kw["session_id"],
            org_id=kw["org_id"],
            user_id=kw["user_id"],
            cwd=kw["cwd"],
            model="m",
            config=config,
            title=kw["title"],
        )


def test_trigger_creates_a_headless_session_on_the_repo_and_starts_driving_it(tmp_path: Path) -> None:
    runtime = StubRuntime()
    start = runtime_starter(runtime, workspace_root=tmp_path, session_url=lambda s: f"https://dexa.test/s/{s}")
    task = TriggerTask(
        org_id="org_a",
        repo="acme/api",
        number=3,
        kind="pull_request",
        title="Feature",
        url="https://github.com/acme/api/pull/3",
        sender="octocat",
        request="add tests",
        base="feature-x",
    )

    async def main() -> StartedSession:
        return await start(task)

    started = asyncio.run(main())
    [kw] = runtime.created
    assert kw["config"].sources == ("github:acme/api@feature-x",) and kw["config"].headless
    assert kw["org_id"] == "org_a" and kw["title"] == "acme/api#3: Feature"
    assert Path(kw["cwd"]).is_dir() and Path(kw["cwd"]).parent == tmp_path
    assert runtime.submitted == [(started.session_id, task.prompt)] and runtime.started == [started.session_id]
    assert started.url == f"https://dexa.test/s/{started.session_id}" and "add tests" in task.prompt


def test_in_a_remote_workspace_the_session_gets_the_sandbox_root_and_nothing_is_made_here(tmp_path: Path) -> None:
    runtime = StubRuntime()
    start = runtime_starter(runtime, workspace_root=tmp_path / "unused", remote_root="/workspace")
    task = TriggerTask(
        org_id="org_a", repo="acme/api", number=4, kind="issue", title="Bug", url="u", sender="mona", request="fix"
    )
    asyncio.run(start(task))
    [kw] = runtime.created
    assert kw["cwd"] == "/workspace" and not (tmp_path / "unused").exists()
    # No one is there to approve: the pull request the prompt asks for is pre-approved.
    assert kw["config"].allowed_tools == ("OpenPullRequests",) and kw["permission_mode"] == "acceptEdits"
