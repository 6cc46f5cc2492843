"""Integration grants: the org's shared OAuth grant and users' own, and the policy that picks one per user."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, Field

from dexa.api.schemas.common import Body

GrantPolicy = Literal["user_first", "org_only", "user_only"]
# Who a grant is for, as a caller names it: the org's shared grant, or the caller's own.
GrantFor = Literal["org", "me"]


class GrantPublic(BaseModel):
    """Facts about one grant; never a token value."""

    owner: str = Field(description='"org" or "user:<user id>"')
    status: str
    scope: str = ""
    issuer: str | None = None
    expires_at: float | None = None
    has_refresh_token: bool = False
    last_error: str = ""

    @staticmethod
    def of(g: Mapping[str, Any]) -> GrantPublic:
        return GrantPublic(
            owner=str(g.get("owner", "org")),
            status=str(g.get("status", "ok")),
            scope=str(g.get("scope") or ""),
            issuer=g.get("issuer"),
            expires_at=g.get("expires_at"),
            has_refresh_token=bool(g.get("has_refresh_token")),
            last_error=str(g.get("last_error") or ""),
        )


class GrantsPublic(BaseModel):
    integration_id: str
    policy: GrantPolicy = Field(
        description="user_first: the user's own grant, else the org's; org_only; user_only: never the org's"
    )
    grant_owner: str | None = Field(description="Whose grant the caller's sessions use; null: none (not connected)")
    data: list[GrantPublic] = Field(description="The org's grant and the caller's own (never another user's)")
    count: int

    @staticmethod
    def of(integration_id: str, view: Mapping[str, Any]) -> GrantsPublic:
        rows = [GrantPublic.of(g) for g in view.get("grants") or []]
        return GrantsPublic(
            integration_id=integration_id,
            policy=view.get("policy", "user_first"),
            grant_owner=view.get("grant_owner"),
            data=rows,
            count=len(rows),
        )


class GrantPolicyUpdate(Body):
    policy: GrantPolicy
