"""Turn a session's settings files into its permission policy, hooks and limits."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dexa.config.loader import load_settings
from dexa.config.settings import EffectiveSettings, SettingsProblem
from dexa.config.trust import TrustDecision
from dexa.core.environment import CombineFn
from dexa.core.errors import ConfigError
from dexa.core.events import EventType
from dexa.core.ports import HookOutcome, HookRunner, PermissionDecision, Workspace
from dexa.core.session import Session, SessionConfig
from dexa.egress.policy import NetworkPolicy
from dexa.hooks.protocol import HookResult
from dexa.hooks.runner import SettingsHookRunner, workspace_executor
from dexa.permissions.engine import PermissionEngine, combine
from dexa.permissions.modes import check_mode
from dexa.permissions.persist import persist_allow_rule, persistence_scope
from dexa.runtime.boundary import header_env_allowlist

logger = logging.getLogger(__name__)

EmitFn = Callable[[str, str, Mapping[str, Any]], Awaitable[Any]]
MODES = ("default", "acceptEdits", "plan", "bypassPermissions", "dontAsk")


@dataclass(slots=True, kw_only=True)
class LoadedConfig:
    settings: EffectiveSettings
    policy: PermissionEngine
    hooks: HookRunner | None
    problems: list[SettingsProblem]
    additional_dirs: tuple[str, ...]
    network_enabled: bool
    budget_usd: float | None
    loop_threshold: int | None
    combine: CombineFn
    on_always_allow: Any
    memory: str = ""
    extras: dict[str, Any] = field(default_factory=dict)


def cli_layer(config: SessionConfig) -> dict[str, Any]:
    return {
        "allowedTools": list(config.allowed_tools),
        "disallowedTools": list(config.disallowed_tools),
        "addDir": list(config.add_dirs),
        "settings": list(config.settings_files),
    }


SETTING_SOURCES_KEY = "setting_sources"


def read_settings(
    cwd: str,
    config: SessionConfig,
    *,
    home: Path,
    org_policy: Mapping[str, Any] | None,
    managed_path: Path,
    hosted: bool,
    trust: TrustDecision | None = None,
) -> tuple[EffectiveSettings, list[SettingsProblem]]:
    sources = config.extra.get(SETTING_SOURCES_KEY)  # `--setting-sources user,project`: the file layers to read
    return load_settings(
        cwd,
        home=str(home),
        cli=cli_layer(config),
        org_policy=org_policy,
        managed_path=str(managed_path),
        hosted=hosted,
        trust=trust,
        setting_sources=tuple(sources) if isinstance(sources, list) else None,
    )


def initial_mode(requested: str | None, settings: EffectiveSettings) -> str:
    """--permission-mode wins over defaultMode; bypass is refused when policy disables it (Claude Code's rule)."""
    mode = requested or settings.default_mode or "default"
    if mode not in MODES:
        raise ConfigError(f"unknown permission mode {mode!r}; expected one of {', '.join(MODES)}")
    return check_mode(mode, settings)


def _hook_transport(network: NetworkPolicy) -> Any:
    # Imported only for http hooks: the egress transport is built on httpx 1, which (with click and pygments)
    # would cost every session's cold start ~0.1-0.3 s of imports.
    from dexa.egress.transport import egress_transport

    return egress_transport(network)


def _http_hooks(settings: EffectiveSettings) -> bool:
    return any(h.type == "http" for g in settings.hooks.groups for h in g.handlers)


def _user_layers_env(
    session: Session, *, home: Path, org_policy: Mapping[str, Any] | None, managed_path: Path
) -> dict[str, str]:
    settings, _ = load_settings(
        session.cwd,
        home=str(home),
        cli={"settings": list(session.config.settings_files)},
        org_policy=org_policy,
        managed_path=str(managed_path),
        setting_sources=("user",),
    )
    return dict(settings.env)


def combine_hook_and_rules(hook: HookOutcome | None, decision: PermissionDecision, mode: str) -> PermissionDecision:
    return combine(hook, decision, mode=mode)


def load_session_config(
    session: Session,
    *,
    home: Path,
    org_policy: Mapping[str, Any] | None,
    managed_path: Path,
    hosted: bool,
    emit: EmitFn | None = None,
    workspace: Workspace | None = None,
    trust: TrustDecision | None = None,
    network: NetworkPolicy | None = None,
) -> LoadedConfig:
    settings, problems = read_settings(
        session.cwd,
        session.config,
        home=home,
        org_policy=org_policy,
        managed_path=managed_path,
        hosted=hosted,
        trust=trust,
    )
    policy = PermissionEngine(settings, cwd=session.cwd, additional_dirs=session.config.add_dirs, home=str(home))

    async def report(result: HookResult) -> None:
        if emit is not None:
            await emit(session.id, EventType.HOOK, result.to_event())

    sandbox = workspace_executor(workspace) if workspace is not None and getattr(workspace, "sandboxed", True) else None
    hooks = SettingsHookRunner.from_settings(
        settings,
        project_dir=session.cwd,
        session_id=session.id,
        permission_mode=session.permission_mode,
        hosted=hosted,
        home=str(home),
        on_result=report,
        # Repository hooks (every hook, hosted) run in the workspace sandbox; the user's own run as the user,
        # with only the `env` of the user's own layers.
        sandbox_executor=sandbox,
        host_settings_env=_user_layers_env(session, home=home, org_policy=org_policy, managed_path=managed_path),
        header_env_allowlist=header_env_allowlist(org_policy),
        sandbox_http_transport=_hook_transport(network or settings.dexa.network) if _http_hooks(settings) else None,
    )
    extra_dirs = tuple(d for d in settings.working_dirs(session.config.add_dirs) if d != session.cwd)

    async def on_always_allow(tool_name: str, tool_input: Mapping[str, Any], suggestions: list[str]) -> None:
        rules = suggestions or [tool_name]
        for rule in rules:
            policy.add_session_rule(rule)
            if persistence_scope(rule) == "local":
                try:
                    persist_allow_rule(session.cwd, rule, home=str(home))
                except ConfigError:
                    logger.warning("could not persist %s to settings.local.json", rule, exc_info=True)

    return LoadedConfig(
        settings=settings,
        policy=policy,
        hooks=hooks,
        problems=problems,
        additional_dirs=extra_dirs,
        network_enabled=settings.dexa.network.enabled,
        budget_usd=settings.dexa.budget_usd,
        loop_threshold=settings.dexa.loop_detection_threshold,
        combine=combine_hook_and_rules,
        on_always_allow=on_always_allow,
    )
