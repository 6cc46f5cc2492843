"""A warm step container keeps each session's environment (warm_envs.StampedEnvs), yet a settings or memory PUT made
through the deployed API reaches the session at the step container's next invocation: the environment's stamp holds
the org's stored-settings version, read once per invocation."""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from pathlib import Path
from typing import Any

from test_api_front import bearer, call, deployed, rest  # noqa: F401  # deployed: the API Lambda fixture

from dexa.adapters.aws.warm_envs import StampedEnvs
from dexa.cloud import lambdas
from dexa.core.session import Session
from dexa.settings import get_settings


def _put(world: Any, path: str, body: dict[str, Any]) -> None:
    headers = {**bearer(world), "Content-Type": "application/json"}
    resp = call(world, rest("PUT", path, headers=headers, body=body))
    assert resp["statusCode"] == 200, resp["body"]


def test_a_kept_environment_is_rebuilt_after_a_settings_or_memory_put(
    deployed: Any,  # noqa: F811  # the fixture imported above
    tmp_path: Path,
) -> None:
    shutil.rmtree(get_settings().home, ignore_errors=True)  # the step container's own, empty /tmp home
    get_settings.cache_clear()
    lambdas.cloud_runtime.cache_clear()
    runtime = lambdas.cloud_runtime()
    envs = runtime.engine.envs
    assert isinstance(envs, StampedEnvs)
    cwd = str(get_settings().workspaces_dir / deployed.org_id)
    Path(cwd).mkdir(parents=True, exist_ok=True)
    script = tmp_path / "script.json"
    script.write_text(json.dumps({"turns": [{"text": "ok"}]}))
    now = time.time()
    session = Session(
        id="ses_warm", org_id=deployed.org_id, user_id="u", cwd=cwd, model=f"scripted:{script}", created_at=now
    )

    async def env() -> Any:
        return await envs.env_for(session)

    asyncio.run(runtime.store.create_session(session))
    envs.new_invocation()
    first = asyncio.run(env())
    assert first.policy.decide("Bash", {"command": "curl x"}, mode="default", cwd=cwd).behavior == "ask"
    envs.new_invocation()
    assert asyncio.run(env()) is first  # nothing changed: the warm container keeps it

    _put(deployed, "/settings/permissions", {"permissions": {"deny": ["Bash(curl *)"]}})
    envs.new_invocation()  # the step container's next invocation (TaskRunner.dispatch)
    second = asyncio.run(env())
    assert second is not first
    assert second.policy.decide("Bash", {"command": "curl x"}, mode="default", cwd=cwd).behavior == "deny"

    org_memory = str(get_settings().orgs_dir / deployed.org_id / ".claude" / "CLAUDE.md")
    _put(deployed, "/memory", {"path": org_memory, "content": "Org rule: tabs, never spaces."})
    envs.new_invocation()
    third = asyncio.run(env())
    assert third is not second and "tabs, never spaces" in third.system_prompt
    asyncio.run(envs.release(session.id))
