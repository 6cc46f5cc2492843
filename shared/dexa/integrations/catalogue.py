"""The providers an org can connect, how each authenticates, and which MCP server serves it.

`managed` names the Dexa-hosted server kind (calendar, email, crm, chat, tickets, meetings) when Dexa has a
provider client for the vendor; `remote_mcp` is the vendor's official hosted MCP server (mcp.md §4), offered as a
preset (`mode=remote`). A remote server is connected by the MCP authorization flow (integrations.remote): its
authorization server is discovered from the server itself; `oauth` only names the issuer where an admin may have
pre-registered Dexa's client. The managed clients use `oauth`'s static endpoints.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from .oauth_discovery import AuthServer
from .providers import zendesk

Auth = Literal["oauth", "api_key", "connection_string", "none"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ProviderInfo:
    id: str
    name: str
    kind: str
    auth: Auth
    description: str
    managed: str | None = None
    remote_mcp: str | None = None
    oauth: AuthServer | None = None
    scopes: tuple[str, ...] = ()
    # Config keys the provider needs (e.g. a Zendesk subdomain); values are not secret.
    config_keys: tuple[str, ...] = ()
    # Checks the whole config when it is added (raises ConfigError), for rules config_keys cannot say.
    config_check: Callable[[Mapping[str, Any]], None] | None = None
    notes: str = ""
    kinds: tuple[str, ...] = field(default=())

    def connect_hint(self) -> str:
        if self.id == "custom_mcp":
            return (
                "dexa integrations add custom_mcp --name NAME --url URL (the URL must be on the org allowlist); "
                "then dexa integrations connect <id> if it asks for OAuth"
            )
        if self.auth == "oauth":
            return f"dexa integrations add {self.id} && dexa integrations connect <id>"
        if self.auth == "api_key":
            return f"dexa integrations add {self.id} --api-key KEY"
        if self.auth == "connection_string":
            return f"dexa integrations add {self.id} --connection-string URL"
        return f"dexa integrations add {self.id}"


def _google(scopes: tuple[str, ...]) -> AuthServer:
    return AuthServer(
        issuer="https://accounts.google.com",
        authorization_endpoint="https://accounts.google.com/o/oauth2/v2/auth",
        token_endpoint="https://oauth2.googleapis.com/token",
        scopes_supported=scopes,
        extra_params={"access_type": "offline", "prompt": "consent"},
    )


def _microsoft() -> AuthServer:
    # The `common` endpoint takes work and personal accounts; Graph's v2.0 endpoint honours offline_access.
    return AuthServer(
        issuer="https://login.microsoftonline.com/common/v2.0",
        authorization_endpoint="https://login.microsoftonline.com/common/oauth2/v2.0/authorize",
        token_endpoint="https://login.microsoftonline.com/common/oauth2/v2.0/token",
    )


_G = "https://www.googleapis.com/auth/"
CATALOGUE: dict[str, ProviderInfo] = {
    p.id: p
    for p in (
        ProviderInfo(
            id="demo",
            name="Demo company (offline)",
            kind="bundle",
            auth="none",
            managed="bundle",
            kinds=("calendar", "email", "crm", "chat", "tickets", "meetings"),
            description="Northwind Labs: a seeded company with a week of meetings, deals, mail and tickets",
        ),
        ProviderInfo(
            id="google_calendar",
            name="Google Calendar",
            kind="calendar",
            auth="oauth",
            managed="calendar",
            remote_mcp="https://calendarmcp.googleapis.com/mcp/v1",
            scopes=(_G + "calendar.events", _G + "calendar.events.freebusy"),
            oauth=_google((_G + "calendar.events",)),
            description="Events, free/busy and invitations",
        ),
        ProviderInfo(
            id="gmail",
            name="Gmail",
            kind="email",
            auth="oauth",
            managed="email",
            remote_mcp="https://gmailmcp.googleapis.com/mcp/v1",
            scopes=(_G + "gmail.readonly", _G + "gmail.compose"),
            oauth=_google((_G + "gmail.compose",)),
            description="Search threads, write drafts, send approved drafts",
            notes="gmail.compose is a restricted scope: public apps need Google verification and CASA",
        ),
        ProviderInfo(
            id="outlook_calendar",
            name="Outlook Calendar (Microsoft 365)",
            kind="calendar",
            auth="oauth",
            managed="calendar",
            oauth=_microsoft(),
            scopes=("User.Read", "Calendars.ReadWrite", "offline_access"),
            description="Events, free/busy (getSchedule) and invitations through Microsoft Graph",
            notes="no official Microsoft MCP server; Graph invites a new event's attendees itself",
        ),
        ProviderInfo(
            id="outlook",
            name="Outlook Mail (Microsoft 365)",
            kind="email",
            auth="oauth",
            managed="email",
            oauth=_microsoft(),
            scopes=("User.Read", "Mail.ReadWrite", "Mail.Send", "offline_access"),
            description="Search conversations, write drafts and threaded replies, send approved drafts",
            notes="no official Microsoft MCP server; Mail.Send is only used for drafts a reviewer approved",
        ),
        ProviderInfo(
            id="hubspot",
            name="HubSpot",
            kind="crm",
            auth="oauth",
            managed="crm",
            remote_mcp="https://mcp.hubspot.com",
            oauth=AuthServer(
                issuer="https://app.hubspot.com",
                authorization_endpoint="https://app.hubspot.com/oauth/authorize",
                token_endpoint="https://api.hubapi.com/oauth/v1/token",
            ),
            scopes=(
                "crm.objects.contacts.read",
                "crm.objects.contacts.write",
                "crm.objects.deals.read",
                "crm.objects.deals.write",
            ),
            description="Contacts, deals, notes and tasks",
        ),
        ProviderInfo(
            id="salesforce",
            name="Salesforce",
            kind="crm",
            auth="oauth",
            remote_mcp="https://api.salesforce.com/platform/mcp/v1/platform/sobject-all",
            oauth=AuthServer(
                issuer="https://login.salesforce.com",
                authorization_endpoint="https://login.salesforce.com/services/oauth2/authorize",
                token_endpoint="https://login.salesforce.com/services/oauth2/token",
            ),
            scopes=("api", "refresh_token", "offline_access", "mcp_api"),
            description="Salesforce Hosted MCP (objects, SOQL)",
        ),
        ProviderInfo(
            id="slack",
            name="Slack",
            kind="chat",
            auth="oauth",
            managed="chat",
            remote_mcp="https://mcp.slack.com/mcp",
            oauth=AuthServer(
                issuer="https://slack.com",
                authorization_endpoint="https://slack.com/oauth/v2/authorize",
                token_endpoint="https://slack.com/api/oauth.v2.access",
            ),
            # groups:* are Slack's scopes for private channels (conversations.list types=private_channel, and
            # history/replies in them); without them the app sees public channels only.
            scopes=("chat:write", "channels:read", "channels:history", "groups:read", "groups:history"),
            description="Read channels and threads, post approved messages",
        ),
        ProviderInfo(
            id="zendesk",
            name="Zendesk",
            kind="tickets",
            auth="api_key",
            managed="tickets",
            # email: an API token signs in as {email}/token (listed so the web form asks for it).
            config_keys=("subdomain", "email"),
            config_check=zendesk.check_config,
            description="Support tickets and comments",
            notes=(
                "https://<subdomain>.zendesk.com; an API token needs --config email=AGENT_EMAIL (sent as Basic "
                "{email}/token), an OAuth access token --config token_type=oauth (sent as Bearer); no official "
                "MCP server"
            ),
        ),
        ProviderInfo(
            id="linear",
            name="Linear",
            kind="tickets",
            auth="oauth",
            remote_mcp="https://mcp.linear.app/mcp",
            description="Issues and comments (Linear's hosted MCP; OAuth discovered from it)",
        ),
        ProviderInfo(
            id="jira",
            name="Jira (Atlassian Rovo)",
            kind="tickets",
            auth="oauth",
            remote_mcp="https://mcp.atlassian.com/v1/mcp",
            description="Jira issues and Confluence pages (Atlassian's hosted MCP)",
        ),
        ProviderInfo(
            id="github",
            name="GitHub",
            kind="code",
            auth="oauth",
            remote_mcp="https://api.githubcopilot.com/mcp/",
            oauth=AuthServer(
                issuer="https://github.com/login/oauth",
                authorization_endpoint="https://github.com/login/oauth/authorize",
                token_endpoint="https://github.com/login/oauth/access_token",
            ),
            scopes=("repo", "read:org"),
            description="Repositories, issues and pull requests",
        ),
        ProviderInfo(
            id="postgres",
            name="Postgres",
            kind="db",
            auth="connection_string",
            managed="database",
            description="A Postgres database: schema, read-only SQL, and changes staged with a dry-run preview",
            notes="reads run in READ ONLY transactions; a read-only role for reads is still the safest setup",
        ),
        ProviderInfo(
            id="sqlite",
            name="SQLite",
            kind="db",
            auth="connection_string",
            managed="database",
            description="A SQLite file on the server: schema, read-only SQL, and changes staged with a preview",
            notes="sqlite:///abs/path.db inside a directory the org allows (DEXA_SQLITE_ROOTS or org policy)",
        ),
        ProviderInfo(
            id="meeting_recorder",
            name="Meeting recorder",
            kind="meetings",
            auth="api_key",
            description="Recordings and transcripts (Fireflies, Gong, Zoom...) via its MCP server or API",
        ),
        ProviderInfo(
            id="custom_mcp",
            name="Custom MCP server",
            kind="custom",
            auth="none",
            description="Any streamable HTTP or SSE MCP server on the org allowlist",
        ),
    )
}


def provider(provider_id: str) -> ProviderInfo | None:
    return CATALOGUE.get(provider_id)
