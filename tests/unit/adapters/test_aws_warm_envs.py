"""A warm step container keeps each session's environment until the session changes what it is built from."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

from dexa.adapters.aws.warm_envs import StampedEnvs, env_stamp
from dexa.core.session import Session, SessionConfig


class CachingFactory:
    """Like dexa.runtime.envs.LocalEnvFactory: builds once per session id, until released."""

    def __init__(self) -> None:
        self.built: list[str] = []
        self.released: list[str] = []
        self._cache: dict[str, Any] = {}

    async def env_for(self, session: Session) -> Any:
        if session.id not in self._cache:
            self.built.append(session.model)
            self._cache[session.id] = object()
        return self._cache[session.id]

    async def release(self, session_id: str) -> None:
        self.released.append(session_id)
        self._cache.pop(session_id, None)


def _session(**changes: Any) -> Session:
    return replace(Session(id="ses_1", org_id="o", user_id="u", cwd="/workspace", model="m1"), **changes)


def test_steps_of_an_unchanged_session_reuse_its_environment() -> None:
    inner = CachingFactory()
    envs = StampedEnvs(inner)

    async def main() -> None:
        first = await envs.env_for(_session())
        # Turn progress, status, usage and the version move on every step: none of them rebuilds.
        running = _session(status="running", version=7, turns_completed=3, cost_usd=1.5)
        assert await envs.env_for(running) is first
        raised = _session(config=SessionConfig(max_budget_usd=9.0, max_turns=4))  # limits are read live
        assert await envs.env_for(raised) is first

    asyncio.run(main())
    assert inner.built == ["m1"] and inner.released == []


def test_a_changed_session_is_released_and_built_afresh() -> None:
    inner = CachingFactory()
    envs = StampedEnvs(inner)

    async def main() -> None:
        first = await envs.env_for(_session())
        switched = await envs.env_for(_session(model="m2"))
        assert switched is not first
        tools = await envs.env_for(_session(model="m2", config=SessionConfig(disallowed_tools=("Bash",))))
        assert tools is not switched
        assert await envs.env_for(_session(model="m2", config=SessionConfig(disallowed_tools=("Bash",)))) is tools

    asyncio.run(main())
    assert inner.built == ["m1", "m2", "m2"] and inner.released == ["ses_1", "ses_1"]


def test_the_stamp_covers_what_shapes_the_environment() -> None:
    base = env_stamp(_session())
    for changed in (
        _session(cwd="/workspace/other"),
        _session(org_id="o2"),
        _session(config=SessionConfig(mcp_config=("servers.json",))),
        _session(config=SessionConfig(append_system_prompt="be brief")),
    ):
        assert env_stamp(changed) != base
    assert env_stamp(_session(status="running", version=3)) == base
