"""Integrations an org has connected. Thin over the configured IntegrationRegistry."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from dexa.api.deps import Ctx, IntegrationReader, IntegrationWriter, problems
from dexa.api.schemas.admin import IntegrationCreate, IntegrationPublic, IntegrationsPublic, IntegrationStatusPublic
from dexa.api.schemas.common import ID_PATTERN

router = APIRouter(prefix="/integrations", tags=["integrations"])

IntegrationId = Annotated[str, Path(pattern=ID_PATTERN)]


@router.get("", response_model=IntegrationsPublic, responses=problems())
async def list_integrations(ctx: Ctx, who: IntegrationReader) -> IntegrationsPublic:
    rows = await ctx.integrations.list(who.org_id)
    return IntegrationsPublic(data=[IntegrationPublic.of(i) for i in rows], count=len(rows))


@router.post("", status_code=201, response_model=IntegrationPublic, responses=problems(400))
async def create_integration(body: IntegrationCreate, ctx: Ctx, who: IntegrationWriter) -> IntegrationPublic:
    item = await ctx.integrations.create(who.org_id, kind=body.kind, name=body.name, config=body.config, by=who.user_id)
    await ctx.audit.append(who, "integration.create", item.id, {"kind": item.kind, "name": item.name})
    return IntegrationPublic.of(item)


@router.delete("/{integration_id}", status_code=204, response_class=Response, responses=problems(404))
async def delete_integration(integration_id: IntegrationId, ctx: Ctx, who: IntegrationWriter) -> Response:
    await ctx.integrations.delete(who.org_id, integration_id)
    await ctx.audit.append(who, "integration.delete", integration_id)
    return Response(status_code=204)


@router.get("/{integration_id}/status", response_model=IntegrationStatusPublic, responses=problems(404))
async def integration_status(
    integration_id: IntegrationId, ctx: Ctx, who: IntegrationReader
) -> IntegrationStatusPublic:
    return IntegrationStatusPublic.of(await ctx.integrations.status(who.org_id, integration_id))
