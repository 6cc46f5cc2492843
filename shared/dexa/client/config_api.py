"""DexaClient's review-queue and configuration operations (a mixin, so api.py stays one concept per module):
the org-wide output queue, approval links, the side-effect ledger, OAuth, settings, policy, memory, extensions
and schedules. Tagged like every other operation, so the OpenAPI drift test covers them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from dexa.api.schemas.admin import IntegrationPublic, ServerPolicyPublic
from dexa.api.schemas.approvals import OutputsPublic
from dexa.api.schemas.config import (
    AgentsPublic,
    LinkPublic,
    MarketplacesPublic,
    MemoryPublic,
    MemoryWritten,
    OAuthStartPublic,
    OutputPolicyDoc,
    PermissionsSettingsPublic,
    PluginsPublic,
    SchedulePublic,
    SchedulesPublic,
    SideEffectsPublic,
    SkillsPublic,
)
from dexa.api.schemas.grants import GrantFor, GrantPolicy, GrantsPublic
from dexa.api.schemas.triggers import (
    EmailTriggerPublic,
    GithubTriggerPublic,
    ReviewChannelsDoc,
    SlackTriggerPublic,
    SlackUserPublic,
    TaskTemplatePublic,
    TaskTemplatesPublic,
)

from .request import Operations, operation

OutputStatus = Literal["pending", "approved", "rejected", "executed", "failed"]


def _some(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


class ConfigOperations(Operations):
    # ------------------------------------------------------------ review queue, links, ledger

    @operation("GET", "/outputs")
    async def list_org_outputs(self, *, status: OutputStatus | None = None, limit: int = 500) -> OutputsPublic:
        return await self._call("GET", "/outputs", OutputsPublic, params={"status": status, "limit": limit})

    @operation("POST", "/approval-links/peek")
    async def peek_approval_link(self, token: str) -> LinkPublic:
        return await self._call("POST", "/approval-links/peek", LinkPublic, json_body={"token": token})

    @operation("POST", "/approval-links/redeem")
    async def redeem_approval_link(self, token: str, *, reason: str = "") -> LinkPublic:
        body = {"token": token, "reason": reason}
        return await self._call("POST", "/approval-links/redeem", LinkPublic, json_body=body)

    @operation("GET", "/sessions/{session_id}/side-effects")
    async def side_effects(self, session_id: str) -> SideEffectsPublic:
        return await self._call("GET", f"/sessions/{session_id}/side-effects", SideEffectsPublic)

    # ------------------------------------------------------------ OAuth

    @operation("POST", "/integrations/{integration_id}/oauth/start")
    async def start_oauth(self, integration_id: str) -> OAuthStartPublic:
        return await self._call("POST", f"/integrations/{integration_id}/oauth/start", OAuthStartPublic)

    @operation("GET", "/oauth/callback")
    async def oauth_callback(self, code: str, state: str, *, iss: str | None = None) -> IntegrationPublic:
        params = _some(code=code, state=state, iss=iss)
        return await self._call("GET", "/oauth/callback", IntegrationPublic, params=params)

    # ------------------------------------------------------------ grants: the org's and the caller's own

    @operation("GET", "/integrations/{integration_id}/grants")
    async def list_grants(self, integration_id: str) -> GrantsPublic:
        return await self._call("GET", f"/integrations/{integration_id}/grants", GrantsPublic)

    @operation("PUT", "/integrations/{integration_id}/grants")
    async def set_grant_policy(self, integration_id: str, policy: GrantPolicy) -> GrantsPublic:
        return await self._call(
            "PUT", f"/integrations/{integration_id}/grants", GrantsPublic, json_body={"policy": policy}
        )

    @operation("DELETE", "/integrations/{integration_id}/grants/{grant_for}")
    async def delete_grant(self, integration_id: str, grant_for: GrantFor) -> None:
        await self._call("DELETE", f"/integrations/{integration_id}/grants/{grant_for}", None)

    # ------------------------------------------------------------ a connected server's output policy

    @operation("GET", "/integrations/{integration_id}/policy")
    async def get_server_policy(self, integration_id: str) -> ServerPolicyPublic:
        return await self._call("GET", f"/integrations/{integration_id}/policy", ServerPolicyPublic)

    @operation("PUT", "/integrations/{integration_id}/policy")
    async def put_server_policy(self, integration_id: str, changes: Mapping[str, Any]) -> ServerPolicyPublic:
        """Only the keys given change (reads, writes, tools); a null value removes that rule."""
        return await self._call(
            "PUT", f"/integrations/{integration_id}/policy", ServerPolicyPublic, json_body=dict(changes)
        )

    # ------------------------------------------------------------ settings, policy, memory

    @operation("GET", "/settings/permissions")
    async def get_permission_settings(self, *, cwd: str | None = None) -> PermissionsSettingsPublic:
        return await self._call("GET", "/settings/permissions", PermissionsSettingsPublic, params={"cwd": cwd})

    @operation("PUT", "/settings/permissions")
    async def put_permission_settings(
        self,
        permissions: Mapping[str, Any],
        *,
        scope: Literal["project", "local"] = "project",
        cwd: str | None = None,
    ) -> PermissionsSettingsPublic:
        body = _some(permissions=dict(permissions), scope=scope, cwd=cwd)
        return await self._call("PUT", "/settings/permissions", PermissionsSettingsPublic, json_body=body)

    @operation("GET", "/output-policies")
    async def get_output_policy(self) -> OutputPolicyDoc:
        return await self._call("GET", "/output-policies", OutputPolicyDoc)

    @operation("PUT", "/output-policies")
    async def put_output_policy(self, policy: Mapping[str, Any]) -> OutputPolicyDoc:
        return await self._call("PUT", "/output-policies", OutputPolicyDoc, json_body=dict(policy))

    @operation("GET", "/memory")
    async def get_memory(self, *, cwd: str | None = None) -> MemoryPublic:
        return await self._call("GET", "/memory", MemoryPublic, params={"cwd": cwd})

    @operation("PUT", "/memory")
    async def put_memory(self, path: str, content: str, *, cwd: str | None = None) -> MemoryWritten:
        body = _some(path=path, content=content, cwd=cwd)
        return await self._call("PUT", "/memory", MemoryWritten, json_body=body)

    # ------------------------------------------------------------ extensions

    @operation("GET", "/agents")
    async def list_agents(self, *, cwd: str | None = None) -> AgentsPublic:
        return await self._call("GET", "/agents", AgentsPublic, params={"cwd": cwd})

    @operation("GET", "/skills")
    async def list_skills(self, *, cwd: str | None = None) -> SkillsPublic:
        return await self._call("GET", "/skills", SkillsPublic, params={"cwd": cwd})

    @operation("GET", "/plugins")
    async def list_plugins(self, *, cwd: str | None = None) -> PluginsPublic:
        return await self._call("GET", "/plugins", PluginsPublic, params={"cwd": cwd})

    @operation("GET", "/marketplaces")
    async def list_marketplaces(self, *, cwd: str | None = None) -> MarketplacesPublic:
        return await self._call("GET", "/marketplaces", MarketplacesPublic, params={"cwd": cwd})

    # ------------------------------------------------------------ schedules

    @operation("GET", "/schedules")
    async def list_schedules(self) -> SchedulesPublic:
        return await self._call("GET", "/schedules", SchedulesPublic)

    @operation("POST", "/schedules")
    async def create_schedule(
        self, cron: str, prompt: str, *, cwd: str | None = None, model: str | None = None, enabled: bool = True
    ) -> SchedulePublic:
        body = _some(cron=cron, prompt=prompt, cwd=cwd, model=model, enabled=enabled)
        return await self._call("POST", "/schedules", SchedulePublic, json_body=body)

    @operation("PATCH", "/schedules/{schedule_id}")
    async def update_schedule(
        self,
        schedule_id: str,
        *,
        cron: str | None = None,
        prompt: str | None = None,
        model: str | None = None,
        enabled: bool | None = None,
    ) -> SchedulePublic:
        body = _some(cron=cron, prompt=prompt, model=model, enabled=enabled)
        return await self._call("PATCH", f"/schedules/{schedule_id}", SchedulePublic, json_body=body)

    # ------------------------------------------------------------ triggers and review channels

    @operation("PUT", "/triggers/github")
    async def link_github(
        self, run_as: str, *, repos: list[str] | None = None, installation_id: int | None = None
    ) -> GithubTriggerPublic:
        body = _some(run_as=run_as, repos=repos, installation_id=installation_id)
        return await self._call("PUT", "/triggers/github", GithubTriggerPublic, json_body=body)

    @operation("GET", "/review-channels")
    async def get_review_channels(self) -> ReviewChannelsDoc:
        return await self._call("GET", "/review-channels", ReviewChannelsDoc)

    @operation("PUT", "/review-channels")
    async def set_review_channels(
        self, *, slack_team: str = "", slack_channel: str = "", emails: list[str] | None = None
    ) -> ReviewChannelsDoc:
        body = {"slack_team": slack_team, "slack_channel": slack_channel, "emails": emails or []}
        return await self._call("PUT", "/review-channels", ReviewChannelsDoc, json_body=body)

    @operation("PUT", "/slack-users")
    async def map_slack_user(self, slack_user: str, user_id: str) -> SlackUserPublic:
        body = {"slack_user": slack_user, "user_id": user_id}
        return await self._call("PUT", "/slack-users", SlackUserPublic, json_body=body)

    @operation("PUT", "/triggers/email")
    async def set_email_trigger(
        self, address: str, *, senders: Mapping[str, str] | None = None, unknown_sender: str = "reject"
    ) -> EmailTriggerPublic:
        body = {"address": address, "senders": dict(senders or {}), "unknown_sender": unknown_sender}
        return await self._call("PUT", "/triggers/email", EmailTriggerPublic, json_body=body)

    @operation("GET", "/triggers/email")
    async def get_email_trigger(self) -> EmailTriggerPublic:
        return await self._call("GET", "/triggers/email", EmailTriggerPublic)

    @operation("PUT", "/triggers/slack")
    async def set_slack_trigger(self, *, unknown_user: str = "reject") -> SlackTriggerPublic:
        return await self._call("PUT", "/triggers/slack", SlackTriggerPublic, json_body={"unknown_user": unknown_user})

    @operation("POST", "/task-templates")
    async def create_task_template(self, name: str, prompt: str, run_as: str) -> TaskTemplatePublic:
        body = {"name": name, "prompt": prompt, "run_as": run_as}
        return await self._call("POST", "/task-templates", TaskTemplatePublic, json_body=body)

    @operation("PUT", "/task-templates/{template_id}")
    async def update_task_template(self, template_id: str, name: str, prompt: str, run_as: str) -> TaskTemplatePublic:
        body = {"name": name, "prompt": prompt, "run_as": run_as}
        return await self._call("PUT", f"/task-templates/{template_id}", TaskTemplatePublic, json_body=body)

    @operation("GET", "/task-templates")
    async def list_task_templates(self) -> TaskTemplatesPublic:
        return await self._call("GET", "/task-templates", TaskTemplatesPublic)

    @operation("DELETE", "/task-templates/{template_id}")
    async def delete_task_template(self, template_id: str) -> None:
        await self._call("DELETE", f"/task-templates/{template_id}", None)

    @operation("DELETE", "/schedules/{schedule_id}")
    async def delete_schedule(self, schedule_id: str) -> None:
        await self._call("DELETE", f"/schedules/{schedule_id}", None)
