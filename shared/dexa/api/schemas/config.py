"""Org and workspace configuration: settings permissions, output policies, memory, extensions, schedules,
the side-effect ledger, approval links and OAuth."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from dexa.core.errors import ConfigError
from dexa.triggers.cron import parse as parse_cron

from .approvals import ApprovalPublic, OutputPublic
from .common import Mode

Decision = Literal["direct", "stage", "auto", "deny"]
OutputMode = Literal["blocking", "non_blocking"]
SettingsScope = Literal["project", "local"]


class Body(BaseModel):
    """Strict bodies: unknown fields are refused and nothing is coerced ("false" is not a boolean)."""

    model_config = ConfigDict(extra="forbid", strict=True)


Cwd = Field(
    default=None,
    min_length=1,
    max_length=4096,
    description="Workspace directory (absolute, or relative to the server's default); default: the server's",
)
Rule = Field(min_length=1, max_length=1000)


# ------------------------------------------------------------------ settings permissions


class PermissionsDoc(BaseModel):
    """The `permissions` object of a Claude Code settings file (unknown keys are refused)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    allow: list[str] = Field(default_factory=list, max_length=500)
    ask: list[str] = Field(default_factory=list, max_length=500)
    deny: list[str] = Field(default_factory=list, max_length=500)
    defaultMode: Mode | None = None  # the settings file's own camelCase key
    additionalDirectories: list[str] = Field(default_factory=list, max_length=100)
    disableBypassPermissionsMode: Literal["disable"] | None = None

    @field_validator("allow", "ask", "deny", "additionalDirectories")
    @classmethod
    def _non_empty(cls, values: list[str]) -> list[str]:
        for i, v in enumerate(values):
            if not v.strip() or len(v) > 1000:
                raise ValueError(f"entry {i} must be a non-empty string of at most 1000 characters")
        return values


class PermissionsUpdate(Body):
    cwd: str | None = Cwd
    scope: SettingsScope = Field(
        default="project", description="project: .claude/settings.json; local: .claude/settings.local.json"
    )
    permissions: PermissionsDoc


class SettingsProblemPublic(BaseModel):
    file: str
    key: str
    message: str


class SettingsFilePublic(BaseModel):
    scope: SettingsScope
    path: str
    exists: bool
    permissions: dict[str, Any] = Field(description="The file's `permissions` object as written")


class EffectivePermissionsPublic(BaseModel):
    allow: list[str]
    ask: list[str]
    deny: list[str]
    default_mode: str | None
    files: list[str] = Field(description="Every settings layer that was read, highest priority first")


class PermissionsSettingsPublic(BaseModel):
    cwd: str
    files: list[SettingsFilePublic]
    effective: EffectivePermissionsPublic
    problems: list[SettingsProblemPublic]


# ------------------------------------------------------------------ output policy


class OutputModesDoc(BaseModel):
    """Whether the agent waits for a staged output's decision: "blocking" (the turn waits, then continues with the
    result) or "non_blocking" (the agent goes on and hears of the decision at its next turn; the default)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    default: OutputMode | None = None
    output_types: dict[str, OutputMode] = Field(default_factory=dict, max_length=200)
    tools: dict[str, OutputMode] = Field(default_factory=dict, max_length=500, description='"server/tool" keys')


class OutputPolicyDoc(BaseModel):
    """The org's stage / auto-apply / direct / deny policy for MCP calls (most specific level wins)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    modes: OutputModesDoc | None = None

    default: Decision | None = None
    output_types: dict[str, Decision] = Field(default_factory=dict, max_length=200)
    integrations: dict[str, Decision] = Field(default_factory=dict, max_length=200)
    tools: dict[str, Decision] = Field(default_factory=dict, max_length=500, description='"server/tool" keys')
    reads: dict[str, Decision] = Field(default_factory=dict, max_length=200, description="per server: its reads")
    allow_session_auto: bool = False

    @field_validator("output_types", "integrations", "tools", "reads")
    @classmethod
    def _keys(cls, values: dict[str, Decision]) -> dict[str, Decision]:
        for key in values:
            if not key.strip() or len(key) > 200:
                raise ValueError(f"key {key[:40]!r} must be a non-empty name of at most 200 characters")
        return values


# ------------------------------------------------------------------ memory


class MemoryFilePublic(BaseModel):
    path: str
    scope: str
    kind: str
    content: str
    imported_from: str | None
    editable: bool = Field(description="Within the workspace or ~/.claude, so PUT /memory may change it")


class MemoryPublic(BaseModel):
    cwd: str
    files: list[MemoryFilePublic]
    problems: list[SettingsProblemPublic]


class MemoryUpdate(Body):
    cwd: str | None = Cwd
    path: str = Field(
        min_length=1, max_length=4096, description="A .md file in the workspace or ~/.claude (absolute or cwd-relative)"
    )
    content: str = Field(max_length=1_000_000)


class MemoryWritten(BaseModel):
    path: str
    bytes: int


# ------------------------------------------------------------------ extensions (read-only)


class AgentPublic(BaseModel):
    name: str
    description: str
    source: str
    path: str
    model: str | None
    tools: list[str] | None


class AgentsPublic(BaseModel):
    data: list[AgentPublic]
    count: int


class SkillPublic(BaseModel):
    name: str
    description: str
    kind: str
    source: str
    path: str
    argument_hint: str = ""  # what a command takes, as its `argument-hint` front matter says


class SkillsPublic(BaseModel):
    data: list[SkillPublic]
    count: int


class PluginPublic(BaseModel):
    name: str
    ref: str
    version: str
    description: str
    runs_code: list[str]


class PluginsPublic(BaseModel):
    data: list[PluginPublic]
    count: int


class MarketplacePublic(BaseModel):
    name: str
    source: dict[str, Any]
    install_location: str
    known: bool = Field(description="Added to this home (false: only suggested by extraKnownMarketplaces)")


class MarketplacesPublic(BaseModel):
    data: list[MarketplacePublic]
    count: int


# ------------------------------------------------------------------ schedules


def check_cron(expr: str) -> str:
    """Five numeric fields (minute hour day-of-month month day-of-week) with `*`, ranges, lists and steps."""
    try:
        return parse_cron(expr).text
    except ConfigError as exc:  # pydantic reports a ValueError as a 422 naming the field
        raise ValueError(str(exc)) from exc


class ScheduleCreate(Body):
    cron: str = Field(min_length=9, max_length=200, examples=["0 9 * * 1-5"])
    prompt: str = Field(min_length=1, max_length=20_000)
    cwd: str | None = Cwd
    model: str | None = Field(default=None, min_length=1, max_length=200)
    enabled: bool = True

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        return check_cron(value)


class ScheduleUpdate(Body):
    """Fields to change; the others keep their value."""

    cron: str | None = Field(default=None, min_length=9, max_length=200)
    prompt: str | None = Field(default=None, min_length=1, max_length=20_000)
    model: str | None = Field(default=None, min_length=1, max_length=200)
    enabled: bool | None = None

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        return None if value is None else check_cron(value)


class SchedulePublic(BaseModel):
    id: str
    cron: str
    prompt: str
    cwd: str | None
    model: str | None
    enabled: bool
    created_at: float
    created_by: str


class SchedulesPublic(BaseModel):
    data: list[SchedulePublic]
    count: int


# ------------------------------------------------------------------ side-effect ledger


class SideEffectPublic(BaseModel):
    id: str
    kind: str
    summary: str
    data: dict[str, Any]
    compensation: dict[str, Any] | None
    reversible: bool
    checkpoint_id: str | None
    checkpoint_seq: int
    created_at: float
    compensated: dict[str, Any] | None


class SideEffectsPublic(BaseModel):
    data: list[SideEffectPublic]
    count: int


# ------------------------------------------------------------------ approval links and OAuth

Token = Field(min_length=3, max_length=4096, pattern=r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$")


class LinkPeek(Body):
    token: str = Token


class LinkRedeem(Body):
    token: str = Token
    reason: str = Field(default="", max_length=2000)


class LinkPublic(BaseModel):
    """What a signed link decides: a staged output (`output`) or a waiting tool call (`approval`)."""

    action: Literal["approve", "reject", "review"]
    expires_at: float
    output: OutputPublic | None = None
    approval: ApprovalPublic | None = None


class OAuthStartPublic(BaseModel):
    authorize_url: str
