"""Bodies and answers of session summaries and share links, and the read-only view a link opens."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from .common import Body

MIN_SHARE_TTL_S = 60
MAX_SHARE_TTL_S = 30 * 86_400


class SummaryPublic(BaseModel):
    session_id: str
    summary: str
    messages: int = Field(description="Visible messages the summary covers")
    model: str
    created_at: float


class ShareCreate(Body):
    expires_in_s: int = Field(
        default=7 * 86_400, ge=MIN_SHARE_TTL_S, le=MAX_SHARE_TTL_S, description="Lifetime (default 7 days, max 30)"
    )


class SharePublic(BaseModel):
    id: str
    session_id: str
    created_by: str
    created_at: float
    expires_at: float
    revoked_at: float | None = None
    status: Literal["active", "expired", "revoked"]


class ShareCreated(SharePublic):
    token: str = Field(description="The signed token; anyone holding it can read the session until it expires")
    url: str = Field(description="The read-only JSON view (…/view for the web page); no API key needed")


class SharesPublic(BaseModel):
    data: list[SharePublic]
    count: int


class SharedMessage(BaseModel):
    id: str
    role: Literal["user", "assistant"]
    text: str
    tools: list[str] = Field(default_factory=list, description="Tools the assistant called in this message")
    synthetic: bool = False


class SharedSession(BaseModel):
    """What a share link shows: the conversation, read-only, and nothing of the org beyond it."""

    id: str
    title: str
    model: str
    created_at: float
    updated_at: float
    expires_at: float
    summary: str | None = None
    messages: list[SharedMessage]
