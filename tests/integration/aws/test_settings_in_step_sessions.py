"""Settings and memory written through the deployed API reach a session that a step Lambda runs: the step's
container starts with an empty /tmp home, and the session it builds still obeys the org's deny rule and loads the
org's memory, because the session environment writes back what the Store holds before reading settings."""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from pathlib import Path
from typing import Any

from test_api_front import bearer, call, deployed, rest  # noqa: F401  # deployed: the API Lambda fixture

from dexa.cloud import lambdas
from dexa.core.session import Session
from dexa.settings import get_settings


def _json(world: Any) -> dict[str, str]:
    return {**bearer(world), "Content-Type": "application/json"}


def _put(world: Any, path: str, body: dict[str, Any]) -> None:
    resp = call(world, rest("PUT", path, headers=_json(world), body=body))
    assert resp["statusCode"] == 200, resp["body"]


def test_a_deny_rule_written_through_the_api_is_enforced_in_a_step_with_a_fresh_home(
    deployed: Any,  # noqa: F811  # the fixture imported above
    tmp_path: Path,
) -> None:
    _put(deployed, "/settings/permissions", {"permissions": {"deny": ["Bash(curl *)"], "allow": ["Bash(ls *)"]}})
    org_memory = str(get_settings().orgs_dir / deployed.org_id / ".claude" / "CLAUDE.md")
    _put(deployed, "/memory", {"path": org_memory, "content": "Org rule: never deploy on Fridays."})
    cwd = str(get_settings().workspaces_dir / deployed.org_id)

    # The step Lambda: another container, so the same /tmp path but nothing on it; settings and runtime built anew.
    home = get_settings().home
    shutil.rmtree(home)
    get_settings.cache_clear()
    lambdas.cloud_runtime.cache_clear()
    runtime = lambdas.cloud_runtime()
    Path(cwd).mkdir(parents=True)  # an empty workspace: only the settings are missing, not the directory
    script = tmp_path / "script.json"
    script.write_text(json.dumps({"turns": [{"text": "ok"}]}))
    now = time.time()
    session = Session(
        id="ses_step",
        org_id=deployed.org_id,
        user_id="u",
        cwd=cwd,
        model=f"scripted:{script}",
        created_at=now,
        updated_at=now,
    )

    async def build() -> Any:
        await runtime.store.create_session(session)
        try:
            return await runtime.engine.envs.env_for(session)
        finally:
            await runtime.engine.envs.release(session.id)

    env = asyncio.run(build())
    denied = env.policy.decide("Bash", {"command": "curl https://example.com"}, mode="default", cwd=cwd)
    assert denied.behavior == "deny", denied
    allowed = env.policy.decide("Bash", {"command": "ls -la"}, mode="default", cwd=cwd)
    assert allowed.behavior == "allow", allowed
    assert "never deploy on Fridays" in env.system_prompt


def test_a_session_without_stored_settings_builds_as_before(
    deployed: Any,  # noqa: F811  # the fixture imported above
    tmp_path: Path,
) -> None:
    """Nothing stored: the restore writes nothing, and the session's defaults stand (Bash asks)."""
    shutil.rmtree(get_settings().home, ignore_errors=True)
    get_settings.cache_clear()
    lambdas.cloud_runtime.cache_clear()
    runtime = lambdas.cloud_runtime()
    cwd = str(get_settings().workspaces_dir / deployed.org_id)
    script = tmp_path / "script.json"
    script.write_text(json.dumps({"turns": [{"text": "ok"}]}))
    session = Session(id="ses_plain", org_id=deployed.org_id, user_id="u", cwd=cwd, model=f"scripted:{script}")

    async def build() -> Any:
        await runtime.store.create_session(session)
        try:
            return await runtime.engine.envs.env_for(session)
        finally:
            await runtime.engine.envs.release(session.id)

    env = asyncio.run(build())
    assert env.policy.decide("Bash", {"command": "curl x"}, mode="default", cwd=cwd).behavior == "ask"
    assert not (Path(cwd) / ".claude" / "settings.json").exists()
