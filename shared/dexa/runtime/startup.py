"""What `dexa serve` does once it is up: drive the turns a stopped server left unfinished, and run the schedules.

Both cover every org in the store, not just the local one. Several servers may share one DEXA_HOME: each turn is
resumed by exactly one of them (the driver's session claims, dexa.core.claims), and each (schedule, minute) runs
once (dexa.runtime.scheduler).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from dexa.runtime.scheduler import TICK_S, run_due

logger = logging.getLogger(__name__)

UNFINISHED = ("running", "waiting", "paused")
SCAN_LIMIT = 100_000  # sessions read per org at start-up; list_sessions has no cursor


async def all_org_ids(runtime: Any) -> list[str]:
    """Every org the store knows, plus the local one (`dexa run` writes sessions there without an org record)."""
    from dexa.auth.service import ORGS
    from dexa.runtime.envs import LOCAL_ORG

    ids = {str(doc["id"]) for doc in await runtime.store.kv_list(ORGS) if doc.get("id")}
    return sorted(ids | {LOCAL_ORG})


async def resume_unfinished_turns(runtime: Any, org_ids: Sequence[str]) -> int:
    """Drive again every turn a previous process left mid-way; returns how many this process took.

    Steps are durable and a tool call found `running` is recovered from its journal rather than re-run, so driving
    again is safe. A session whose driver still runs (another server, `dexa run`) is left to it.
    """
    driver = runtime.driver
    resumed = 0
    for org_id in org_ids:
        for session in await runtime.store.list_sessions(org_id=org_id, limit=SCAN_LIMIT):
            # A subagent's session is driven by its parent's Task call, which resumes with the parent.
            if session.turn_state is None or session.status not in UNFINISHED or session.parent_id:
                continue
            if not await driver.claims.acquire(session.id):
                continue
            driver.start(session.id)  # the driver's own acquire finds the claim already held by it
            resumed += 1
    if resumed:
        logger.info("resumed %d unfinished turn(s)", resumed)
    return resumed


async def fail_interrupted_outputs(runtime: Any, org_ids: Sequence[str]) -> int:
    """Outputs a stopped process left mid-execution ("approved", no result) become failed, and a blocking turn
    parked on one continues with that failure. Runs after the turns are resumed, so its delivery starts the turn."""
    from dexa.integrations.outputs.models import NAMESPACE

    stuck = [
        org_id
        for org_id in org_ids
        if any(doc.get("status") == "approved" for doc in await runtime.store.kv_list(NAMESPACE, org_id=org_id))
    ]
    if not stuck:
        return 0  # the integrations (and their imports) are built only when there is something to fail
    failed = 0
    for org_id in stuck:
        failed += len(await runtime.integrations.queue.fail_interrupted(org_id))
    logger.warning("marked %d output(s) interrupted mid-execution as failed", failed)
    return failed


async def run_due_everywhere(runtime: Any, *, local_cwd: str | None) -> list[str]:
    """One scheduler tick over every org. A schedule saved without a cwd runs in its own org's workspace root:
    only the local org may default to the directory `dexa serve` was started in."""
    from dexa.auth.orgpaths import OrgPaths
    from dexa.runtime.envs import LOCAL_ORG

    paths = OrgPaths(workspaces=runtime.settings.workspaces_dir, scopes=runtime.settings.orgs_dir)
    started: list[str] = []
    for org_id in await all_org_ids(runtime):
        try:
            default = local_cwd if org_id == LOCAL_ORG and local_cwd else str(paths.workspace_root(org_id))
            started += await run_due(runtime, [org_id], default_cwd=default)
        except Exception:  # one org's broken schedule or directory must not stop the others
            logger.exception("scheduler tick failed for org %s", org_id)
    return started


async def scheduler_loop(runtime: Any, *, local_cwd: str | None, tick_s: float = TICK_S) -> None:
    """Run due schedules each tick; orgs created while the server runs are picked up."""
    while True:
        try:
            await run_due_everywhere(runtime, local_cwd=local_cwd)
        except Exception:  # the loop outlives a bad tick
            logger.exception("scheduler tick failed")
        await asyncio.sleep(tick_s)


async def on_serve_start(runtime: Any, *, local_cwd: str | None) -> None:
    """The app's start-up hook (runs on the engine's loop, where the driver's tasks must live). `local_cwd` is the
    local org's default working directory (the one `dexa serve` registers), or None."""
    org_ids = await all_org_ids(runtime)
    await resume_unfinished_turns(runtime, org_ids)
    await fail_interrupted_outputs(runtime, org_ids)
    from dexa.runtime.inbound import start_inbound_mail

    await start_inbound_mail(runtime, runtime.envs.env)  # mail to an org's address starts sessions
    runtime.background.append(asyncio.create_task(scheduler_loop(runtime, local_cwd=local_cwd), name="dexa-scheduler"))
