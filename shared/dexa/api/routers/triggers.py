"""Where outside events reach an org: GitHub `@dexa` mentions, the Slack workspace and email reviewers that
approvals are announced to, which Slack users act as which Dexa users (dexa.auth.org_links), the org's inbound
mail address and its senders (dexa.triggers.email), Slack's unmapped users (dexa.triggers.slack_events), and saved
task templates that signed webhooks fill (dexa.triggers.templates). Those three are imported per request: the API
function's cold start does not pay for them.

Reads need sessions:read; writes need an admin key and land in the audit log.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import APIRouter, Response

from dexa.api.deps import ConfigAdmin, Ctx, Reader, problems
from dexa.api.schemas.triggers import (
    EmailTriggerPublic,
    EmailTriggerUpdate,
    GithubTriggerPublic,
    GithubTriggerUpdate,
    ReviewChannelsDoc,
    SlackTriggerPublic,
    SlackTriggerUpdate,
    SlackUserLink,
    SlackUserPublic,
    TaskTemplateCreate,
    TaskTemplatePublic,
    TaskTemplatesPublic,
)
from dexa.auth import org_links

if TYPE_CHECKING:
    from dexa.triggers.templates import TaskTemplate

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


@router.put("/triggers/email", response_model=EmailTriggerPublic, responses=problems(403, 404, 409))
async def set_email_trigger(body: EmailTriggerUpdate, ctx: Ctx, who: ConfigAdmin) -> EmailTriggerPublic:
    """Mail to `address` starts sessions as the user its sender maps to (others: `unknown_sender`)."""
    from dexa.triggers import email

    doc = await email.set_email_trigger(
        ctx.runtime.store, who.org_id, address=body.address, senders=body.senders, unknown_sender=body.unknown_sender
    )
    await ctx.audit.append(who, "triggers.email", who.org_id, doc)
    return EmailTriggerPublic.model_validate(doc)


@router.get("/triggers/email", response_model=EmailTriggerPublic, responses=problems())
async def get_email_trigger(ctx: Ctx, who: Reader) -> EmailTriggerPublic:
    """The org's inbound address and senders; an empty address until PUT /triggers/email sets one."""
    from dexa.triggers import email

    doc = await email.get_email_trigger(ctx.runtime.store, who.org_id)
    return EmailTriggerPublic.model_validate(doc or {"address": "", "senders": {}, "unknown_sender": "reject"})


@router.put("/triggers/slack", response_model=SlackTriggerPublic, responses=problems(403, 404))
async def set_slack_trigger(body: SlackTriggerUpdate, ctx: Ctx, who: ConfigAdmin) -> SlackTriggerPublic:
    """Whether Slack users nobody mapped may ask Dexa for work, and as whom."""
    from dexa.triggers import slack_events

    doc = await slack_events.set_slack_trigger(ctx.runtime.store, who.org_id, unknown_user=body.unknown_user)
    await ctx.audit.append(who, "triggers.slack", who.org_id, doc)
    return SlackTriggerPublic.model_validate(doc)


def _template(t: TaskTemplate, *, secret: bool = False) -> TaskTemplatePublic:
    return TaskTemplatePublic(**t.public(), webhook_path=f"/webhooks/tasks/{t.id}", secret=t.secret if secret else None)


@router.post("/task-templates", status_code=201, response_model=TaskTemplatePublic, responses=problems(403, 404))
async def create_task_template(body: TaskTemplateCreate, ctx: Ctx, who: ConfigAdmin) -> TaskTemplatePublic:
    """A prompt a webhook fills; the answer holds the webhook's signing secret, shown this once."""
    from dexa.triggers import templates

    t = await templates.save_template(
        ctx.runtime.store, who.org_id, name=body.name, prompt=body.prompt, run_as=body.run_as, by=who.user_id
    )
    await ctx.audit.append(who, "task_template.create", t.id, {"name": t.name, "run_as": t.run_as})
    return _template(t, secret=True)


@router.put("/task-templates/{template_id}", response_model=TaskTemplatePublic, responses=problems(403, 404))
async def update_task_template(
    template_id: str, body: TaskTemplateCreate, ctx: Ctx, who: ConfigAdmin
) -> TaskTemplatePublic:
    from dexa.triggers import templates

    t = await templates.save_template(
        ctx.runtime.store,
        who.org_id,
        name=body.name,
        prompt=body.prompt,
        run_as=body.run_as,
        by=who.user_id,
        template_id=template_id,
    )
    await ctx.audit.append(who, "task_template.update", t.id, {"name": t.name, "run_as": t.run_as})
    return _template(t)


@router.get("/task-templates", response_model=TaskTemplatesPublic, responses=problems())
async def list_task_templates(ctx: Ctx, who: Reader) -> TaskTemplatesPublic:
    from dexa.triggers import templates

    rows = [_template(t) for t in await templates.list_templates(ctx.runtime.store, who.org_id)]
    return TaskTemplatesPublic(data=rows, count=len(rows))


@router.delete("/task-templates/{template_id}", status_code=204, response_class=Response, responses=problems(404))
async def delete_task_template(template_id: str, ctx: Ctx, who: ConfigAdmin) -> Response:
    from dexa.triggers import templates

    await templates.delete_template(ctx.runtime.store, who.org_id, template_id)
    await ctx.audit.append(who, "task_template.delete", template_id, {})
    return Response(status_code=204)
