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


class EmailTriggerUpdate(Body):
    address: str = Field(max_length=254, description="The org's inbound address", examples=["acme@in.dexa.example"])
    senders: dict[str, str] = Field(
        default_factory=dict, max_length=1000, description="Sender address -> the Dexa user its mail runs as"
    )
    unknown_sender: str = Field(
        default="reject", pattern=ID_PATTERN, description='"reject", or the user mail from anyone else runs as'
    )


class EmailTriggerPublic(BaseModel):
    address: str
    senders: dict[str, str]
    unknown_sender: str


class SlackTriggerUpdate(Body):
    unknown_user: str = Field(
        default="reject", pattern=ID_PATTERN, description='"reject", or the user unmapped Slack users act as'
    )


class SlackTriggerPublic(BaseModel):
    unknown_user: str


class TaskTemplateCreate(Body):
    name: str = Field(min_length=1, max_length=200)
    prompt: str = Field(min_length=1, max_length=50_000, description="`{{path.in.payload}}` marks a variable")
    run_as: str = Field(pattern=ID_PATTERN, description="The Dexa user the webhook's sessions run as")


class TaskTemplatePublic(BaseModel):
    id: str
    name: str
    prompt: str
    run_as: str
    variables: list[str]
    created_by: str
    created_at: float
    webhook_path: str
    secret: str | None = Field(default=None, description="Signs the webhook's bodies; shown only on creation")


class TaskTemplatesPublic(BaseModel):
    data: list[TaskTemplatePublic]
    count: int
