"""Where outside events reach an org: GitHub `@dexa` mentions, the Slack workspace and email reviewers that
approvals are announced to, and which Slack users act as which Dexa users (dexa.triggers.org_links).

Reads need sessions:read; writes need an admin key and land in the audit log.
"""

from __future__ import annotations

from fastapi import APIRouter

from dexa.api.deps import ConfigAdmin, Ctx, Reader, problems
from dexa.api.schemas.triggers import (
    GithubTriggerPublic,
    GithubTriggerUpdate,
    ReviewChannelsDoc,
    SlackUserLink,
    SlackUserPublic,
)
from dexa.triggers import org_links

router = APIRouter(tags=["config"])


@router.put("/triggers/github", response_model=GithubTriggerPublic, responses=problems(404, 409))
async def link_github(body: GithubTriggerUpdate, ctx: Ctx, who: ConfigAdmin) -> GithubTriggerPublic:
    """`@dexa` mentions on these repos (or the App installation) start sessions in this org, as `run_as`."""
    doc = await org_links.link_github(
        ctx.runtime.store, who.org_id, run_as=body.run_as, repos=body.repos, installation_id=body.installation_id
    )
    await ctx.audit.append(who, "triggers.github", who.org_id, doc)
    return GithubTriggerPublic.model_validate(doc)


@router.get("/review-channels", response_model=ReviewChannelsDoc, responses=problems())
async def get_review_channels(ctx: Ctx, who: Reader) -> ReviewChannelsDoc:
    channels = await org_links.review_channels(ctx.runtime.store, who.org_id)
    return ReviewChannelsDoc.model_validate(channels.to_dict())


@router.put("/review-channels", response_model=ReviewChannelsDoc, responses=problems(409))
async def set_review_channels(body: ReviewChannelsDoc, ctx: Ctx, who: ConfigAdmin) -> ReviewChannelsDoc:
    """The Slack channel that gets Approve/Reject buttons and the addresses that get signed links."""
    bad = [e for e in body.emails if "@" not in e or any(c in e for c in " \r\n,;<>")]
    if bad:
        from dexa.core.errors import ConfigError

        raise ConfigError(f"emails must be plain addresses, got {bad[:3]}")
    channels = org_links.ReviewChannels(
        slack_team=body.slack_team, slack_channel=body.slack_channel, emails=tuple(body.emails)
    )
    await org_links.set_review_channels(ctx.runtime.store, who.org_id, channels)
    await ctx.audit.append(who, "review_channels.update", who.org_id, channels.to_dict())
    return body


@router.put("/slack-users", response_model=SlackUserPublic, responses=problems(404))
async def map_slack_user(body: SlackUserLink, ctx: Ctx, who: ConfigAdmin) -> SlackUserPublic:
    """This Slack user's clicks count as `user_id`'s decisions (only if that user may approve)."""
    await org_links.map_slack_user(ctx.runtime.store, who.org_id, body.slack_user, body.user_id)
    await ctx.audit.append(who, "slack_user.link", body.slack_user, {"user_id": body.user_id})
    return SlackUserPublic(slack_user=body.slack_user, user_id=body.user_id)
