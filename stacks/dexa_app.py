"""The whole Dexa cloud app: four stacks wired together. app.py and the tests both build it through here."""

from __future__ import annotations

from dataclasses import dataclass

import aws_cdk as cdk

from .agent import AgentStack
from .api import ApiStack
from .data import DataStack
from .integrations import IntegrationsStack


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
    for stack in (data, agent, integrations, api):
        cdk.Tags.of(stack).add("app", "dexa")
    return DexaStacks(data=data, agent=agent, integrations=integrations, api=api)
