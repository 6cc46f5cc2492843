"""Org and workspace configuration: settings permissions, the output policy, memory files and schedules.

Reads need sessions:read; every write needs an admin key and lands in the audit log.
"""

from __future__ import annotations

import secrets
import time
from typing import Annotated

import anyio
from fastapi import APIRouter, Path, Query, Response

from dexa.api import workspace as ws
from dexa.api.deps import ConfigAdmin, Ctx, Reader, problems
from dexa.api.schemas.common import ID_PATTERN
from dexa.api.schemas.config import (
    EffectivePermissionsPublic,
    MemoryFilePublic,
    MemoryPublic,
    MemoryUpdate,
    MemoryWritten,
    OutputPolicyDoc,
    PermissionsSettingsPublic,
    PermissionsUpdate,
    ScheduleCreate,
    SchedulePublic,
    SchedulesPublic,
    ScheduleUpdate,
    SettingsFilePublic,
    SettingsProblemPublic,
)
from dexa.api.session_policy import check_session_request
from dexa.config import stored as stored_settings
from dexa.config.settings import SettingsProblem
from dexa.core.errors import ConfigError, NotFoundError

router = APIRouter(tags=["config"])

POLICY_NAMESPACE = "output_policy"  # dexa.integrations.outputs.policy reads the same key
POLICY_KEY = "org"
SCHEDULES = "schedules"

CwdQuery = Annotated[str | None, Query(min_length=1, max_length=4096, description="Workspace; default: the server's")]
ScheduleId = Annotated[str, Path(pattern=ID_PATTERN)]


def _problems(items: list[SettingsProblem]) -> list[SettingsProblemPublic]:
    return [SettingsProblemPublic(file=p.file, key=p.key, message=p.message) for p in items]


def _permissions_view(cwd: str, home: str) -> PermissionsSettingsPublic:
    files: list[SettingsFilePublic] = []
    found: list[SettingsProblem] = []
    for scope in ("project", "local"):
        path = stored_settings.settings_path(cwd, home, scope)
        doc, issues = ws.read_settings_file(path)
        found += issues
        perms = (doc or {}).get("permissions")
        files.append(
            SettingsFilePublic(
                scope=scope,  # type: ignore[arg-type]
                path=str(path),
                exists=path.is_file(),
                permissions=dict(perms) if isinstance(perms, dict) else {},
            )
        )
    settings, issues = ws.effective(cwd, home)
    found += [p for p in issues if p not in found]
    eff = EffectivePermissionsPublic(
        allow=[r.rule for r in settings.allow],
        ask=[r.rule for r in settings.ask],
        deny=[r.rule for r in settings.deny],
        default_mode=settings.default_mode,
        files=list(settings.files),
    )
    return PermissionsSettingsPublic(cwd=cwd, files=files, effective=eff, problems=_problems(found))


@router.get("/settings/permissions", response_model=PermissionsSettingsPublic, responses=problems(404, 501))
async def get_permission_settings(ctx: Ctx, who: Reader, cwd: CwdQuery = None) -> PermissionsSettingsPublic:
    """The workspace's project and local `permissions` as written, and the merged result a session would get."""
    home = ctx.home(who)
    path = await ws.workspace(ctx, who, cwd)
    await _restore_permissions(ctx, who.org_id, path, home)
    return await anyio.to_thread.run_sync(_permissions_view, path, home)


async def _restore_permissions(ctx: Ctx, org_id: str, cwd: str, home: str) -> None:
    """Bring this server's settings files up to the store's copy (another API container may have written it)."""
    root = ctx.paths.workspace_root(org_id)
    for scope in ("project", "local"):
        where = stored_settings.location(root, cwd, scope)
        await stored_settings.restore(ctx.runtime.store, org_id, where, stored_settings.settings_path(cwd, home, scope))


@router.put("/settings/permissions", response_model=PermissionsSettingsPublic, responses=problems(404, 501))
async def put_permission_settings(body: PermissionsUpdate, ctx: Ctx, who: ConfigAdmin) -> PermissionsSettingsPublic:
    """Replace the `permissions` object of `.claude/settings.json` (project) or `settings.local.json` (local).
    Rules are checked by the same loader sessions use; a bad rule is a 422 naming its key."""
    home = ctx.home(who)
    cwd = await ws.workspace(ctx, who, body.cwd)
    perms = body.permissions.model_dump(exclude_none=True, exclude_defaults=True)
    ws.validate_permissions(cwd, home, perms)
    path = stored_settings.settings_path(cwd, home, body.scope)
    await _restore_permissions(ctx, who.org_id, cwd, home)  # the other scope's file too: the view merges both
    await anyio.to_thread.run_sync(stored_settings.write_permissions, path, perms)
    where = stored_settings.location(ctx.paths.workspace_root(who.org_id), cwd, body.scope)
    await stored_settings.save(ctx.runtime.store, who.org_id, where, path, perms)
    await ctx.audit.append(who, "settings.permissions.update", str(path), {"scope": body.scope, **perms})
    return await anyio.to_thread.run_sync(_permissions_view, cwd, home)


@router.get("/output-policies", response_model=OutputPolicyDoc, responses=problems())
async def get_output_policy(ctx: Ctx, who: Reader) -> OutputPolicyDoc:
    """The org's output policy (stage / auto / direct / deny per output type, integration and tool)."""
    doc = await ctx.runtime.store.kv_get(POLICY_NAMESPACE, POLICY_KEY, org_id=who.org_id) or {}
    try:
        return OutputPolicyDoc.model_validate(doc)
    except ValueError as exc:
        raise ConfigError(f"the stored output policy is invalid ({exc}); PUT a new one") from exc


@router.put("/output-policies", response_model=OutputPolicyDoc, responses=problems())
async def put_output_policy(body: OutputPolicyDoc, ctx: Ctx, who: ConfigAdmin) -> OutputPolicyDoc:
    from dexa.integrations.outputs.policy import OutputPolicy

    doc = OutputPolicy.from_dict(body.model_dump()).to_dict()  # the gate's own parser: what it cannot read is refused
    if body.modes is not None:
        from dexa.integrations.outputs.modes import OutputModes

        doc["modes"] = OutputModes.from_dict(body.modes.model_dump()).to_dict()
    await ctx.runtime.store.kv_put(POLICY_NAMESPACE, POLICY_KEY, doc, org_id=who.org_id)
    await ctx.audit.append(who, "output_policy.update", POLICY_KEY, doc)
    return OutputPolicyDoc.model_validate(doc)


def _memory_view(cwd: str, home: str, stop_at: str | None) -> MemoryPublic:
    from dexa.agents.extensions import load_extensions

    ext = load_extensions(cwd, home=home, stop_at=stop_at)
    files = [
        MemoryFilePublic(
            path=f.path,
            scope=str(f.scope),
            kind=str(f.kind),
            content=f.content,
            imported_from=f.imported_from,
            editable=ws.is_editable(cwd, home, f.path),
        )
        for f in ext.memory_files
    ]
    issues = [p for p in ext.problems if p.file.endswith(".md") or "memory" in p.key.lower()]
    return MemoryPublic(cwd=cwd, files=files, problems=_problems(issues))


@router.get("/memory", response_model=MemoryPublic, responses=problems(404, 501))
async def get_memory(ctx: Ctx, who: Reader, cwd: CwdQuery = None) -> MemoryPublic:
    """The memory files (CLAUDE.md, rules, imports) a session started in `cwd` would load, in load order."""
    home = ctx.home(who)
    path = await ws.workspace(ctx, who, cwd)
    root = ctx.paths.workspace_root(who.org_id)
    await stored_settings.restore_memory(ctx.runtime.store, who.org_id, root, home)
    return await anyio.to_thread.run_sync(_memory_view, path, home, ws.confine_root(ctx, who, path))


@router.put("/memory", response_model=MemoryWritten, responses=problems(404, 501))
async def put_memory(body: MemoryUpdate, ctx: Ctx, who: ConfigAdmin) -> MemoryWritten:
    """Write one memory file within the workspace or ~/.claude (created when missing)."""
    home = ctx.home(who)
    cwd = await ws.workspace(ctx, who, body.cwd)
    target = ws.editable_memory(cwd, home, body.path)
    size = await anyio.to_thread.run_sync(stored_settings.write_text, target, body.content)
    root = ctx.paths.workspace_root(who.org_id)
    where = await anyio.to_thread.run_sync(stored_settings.memory_location, root, home, target)
    await stored_settings.save_memory(ctx.runtime.store, who.org_id, where, target, body.content)
    await ctx.audit.append(who, "memory.update", str(target), {"bytes": size})
    return MemoryWritten(path=str(target), bytes=size)


def _schedule(doc: dict[str, object]) -> SchedulePublic:
    return SchedulePublic.model_validate(doc)


@router.get("/schedules", response_model=SchedulesPublic, responses=problems())
async def list_schedules(ctx: Ctx, who: Reader) -> SchedulesPublic:
    docs = await ctx.runtime.store.kv_list(SCHEDULES, org_id=who.org_id)
    rows = sorted((_schedule(d) for d in docs), key=lambda s: (s.created_at, s.id))
    return SchedulesPublic(data=rows, count=len(rows))


@router.post("/schedules", status_code=201, response_model=SchedulePublic, responses=problems())
async def create_schedule(body: ScheduleCreate, ctx: Ctx, who: ConfigAdmin) -> SchedulePublic:
    """Store a scheduled prompt (cron in the server's time zone). Running them is the scheduler's job; `cwd` is
    checked (and stored resolved) now, so a schedule can only ever start sessions in the org's workspace."""
    await check_session_request(ctx, who, body)
    cwd = None
    if body.cwd is not None:
        cwd = str(await anyio.to_thread.run_sync(lambda: ctx.paths.resolve(who.org_id, body.cwd)))
    item = SchedulePublic(
        id=f"sch_{secrets.token_hex(8)}",
        cron=body.cron,
        prompt=body.prompt,
        cwd=cwd,
        model=body.model,
        enabled=body.enabled,
        created_at=time.time(),
        created_by=who.user_id,
    )
    await ctx.runtime.store.kv_put(SCHEDULES, item.id, item.model_dump(), org_id=who.org_id)
    try:
        await _sync_timer(ctx, item, who.org_id)
    except BaseException:  # no record without its timer: the caller sees the error and nothing half-made remains
        await ctx.runtime.store.kv_delete(SCHEDULES, item.id, org_id=who.org_id)
        raise
    await ctx.audit.append(who, "schedule.create", item.id, {"cron": item.cron, "enabled": item.enabled})
    return item


async def _sync_timer(ctx: Ctx, item: SchedulePublic, org_id: str) -> None:
    """In the cloud an EventBridge schedule fires each record (dexa.triggers.schedules); `dexa serve` has none."""
    timer = getattr(ctx.runtime, "schedules", None)
    if timer is not None:
        await timer.put(item.id, org_id=org_id, cron=item.cron, enabled=item.enabled)


@router.patch("/schedules/{schedule_id}", response_model=SchedulePublic, responses=problems(404))
async def update_schedule(schedule_id: ScheduleId, body: ScheduleUpdate, ctx: Ctx, who: ConfigAdmin) -> SchedulePublic:
    store = ctx.runtime.store
    doc = await store.kv_get(SCHEDULES, schedule_id, org_id=who.org_id)
    if doc is None:
        raise NotFoundError(f"no schedule {schedule_id}")
    changes = body.model_dump(exclude_none=True)
    item = _schedule({**doc, **changes})
    await _sync_timer(ctx, item, who.org_id)  # first: a cron the timer refuses leaves the record unchanged
    await store.kv_put(SCHEDULES, schedule_id, item.model_dump(), org_id=who.org_id)
    await ctx.audit.append(who, "schedule.update", schedule_id, changes)
    return item


@router.delete("/schedules/{schedule_id}", status_code=204, response_class=Response, responses=problems(404))
async def delete_schedule(schedule_id: ScheduleId, ctx: Ctx, who: ConfigAdmin) -> Response:
    store = ctx.runtime.store
    if await store.kv_get(SCHEDULES, schedule_id, org_id=who.org_id) is None:
        raise NotFoundError(f"no schedule {schedule_id}")
    timer = getattr(ctx.runtime, "schedules", None)
    if timer is not None:  # the timer goes first: a record without a timer is harmless, the reverse fires for nothing
        await timer.delete(schedule_id, org_id=who.org_id)
    await store.kv_delete(SCHEDULES, schedule_id, org_id=who.org_id)
    await ctx.audit.append(who, "schedule.delete", schedule_id)
    return Response(status_code=204)
