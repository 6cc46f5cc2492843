"""The whole Dexa cloud app: four stacks wired together. app.py and the tests both build it through here."""

from __future__ import annotations

from dataclasses import dataclass

import aws_cdk as cdk

from .agent import AgentStack
from .api import ApiStack
from .data import DataStack
from .integrations import IntegrationsStack
from .review import ReviewSecrets, apply_review, publish_public_url


@dataclass(frozen=True, slots=True)
class DexaStacks:
    data: DataStack
    agent: AgentStack
    integrations: IntegrationsStack
    api: ApiStack


def build(app: cdk.App, *, prefix: str = "Dexa", env: cdk.Environment | None = None) -> DexaStacks:
    data = DataStack(app, f"{prefix}Data", env=env)
    agent = AgentStack(app, f"{prefix}Agent", data=data, env=env)
    integrations = IntegrationsStack(app, f"{prefix}Integrations", data=data, agent=agent, env=env)
    api = ApiStack(app, f"{prefix}Api", data=data, agent=agent, integrations=integrations, env=env)
    # The reviewer side (vault key, link key, Slack token, SES, public URL) of every function that needs it.
    review = ReviewSecrets(data, "Review")
    for fn in (agent.step_fn, api.api_fn, integrations.webhooks_fn, integrations.scheduler_fn):
        apply_review(fn, secrets=review, data_key_arn=data.key.key_arn, prefix=prefix)
    publish_public_url(api, prefix=prefix, url=api.api.url)
    for stack in (data, agent, integrations, api):
        cdk.Tags.of(stack).add("app", "dexa")
    return DexaStacks(data=data, agent=agent, integrations=integrations, api=api)
