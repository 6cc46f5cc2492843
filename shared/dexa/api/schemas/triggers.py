"""Bodies of the trigger and review-channel routes (dexa.api.routers.triggers)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from .common import ID_PATTERN
from .config import Body


class GithubTriggerUpdate(Body):
    run_as: str = Field(pattern=ID_PATTERN, description="The Dexa user a mention's session runs as")
    repos: list[str] = Field(default_factory=list, max_length=500, examples=[["octo/hello"]])
    installation_id: int | None = Field(default=None, ge=1)


class GithubTriggerPublic(BaseModel):
    run_as: str
    repos: list[str]
    installation_id: int | None


class ReviewChannelsDoc(Body):
    slack_team: str = Field(default="", pattern=r"^(T[A-Z0-9]{2,30})?$")
    slack_channel: str = Field(default="", pattern=r"^([CDG][A-Z0-9]{2,30})?$")
    emails: list[str] = Field(default_factory=list, max_length=50)


class SlackUserLink(Body):
    slack_user: str = Field(pattern=r"^[UW][A-Z0-9]{2,30}$", description="Slack user id (U… or W…)")
    user_id: str = Field(pattern=ID_PATTERN)


class SlackUserPublic(BaseModel):
    slack_user: str
    user_id: str
