"""build_runtime(settings): the only place that chooses adapters."""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dexa.core.bus import Notifier
from dexa.core.driver import InProcessDriver
from dexa.core.engine import TurnEngine
from dexa.core.environment import SessionEnv
from dexa.core.errors import ConfigError
from dexa.core.events import EventType
from dexa.core.models import context_window, is_scripted, resolve_model
from dexa.core.ports import BlobStore, Store
from dexa.core.redact import Redactor
from dexa.core.session import Session, SessionConfig
from dexa.runtime.boundary import (
    command_env,
    pinned_trust,
    project_expansion_env,
    session_network,
    start_egress,
    stop_egress,
)
from dexa.runtime.prompt import build_system_prompt
from dexa.settings import DexaSettings

logger = logging.getLogger(__name__)

LOCAL_ORG = "org_local"
LOCAL_USER = "usr_local"
SECRET_ENV_KEYS = ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "AWS_SECRET_ACCESS_KEY", "GITHUB_TOKEN", "GH_TOKEN")


def new_session_id() -> str:
    return "ses_" + uuid.uuid4().hex[:20]


@dataclass(slots=True, kw_only=True)
class LocalEnvFactory:
    """Builds each session's environment from its settings files, on first use, and caches it."""

    settings: DexaSettings
    store: Store
    blobs: BlobStore
    env: Mapping[str, str]
    org_policy: Mapping[str, Any] | None = None
    home: Path = field(default_factory=Path.home)
    emit: Any = None
    engine: Any = None
    integrations_provider: Any = None  # () -> Integrations, built lazily: the MCP SDK is costly to import
    checkpointer: Any = None
    code_provider: Any = None  # () -> CodeWiring | None (None when no GitHub credentials are configured)
    _cache: dict[str, SessionEnv] = field(default_factory=dict)

    async def env_for(self, session: Session) -> SessionEnv:
        env = self._cache.get(session.id)
        if env is None:
            env = await self.for_org(session.org_id)._build(session)
            self._cache[session.id] = env
        return env

    def for_org(self, org_id: str) -> LocalEnvFactory:
        """This factory with the org's home for user settings and memory: the owner's own for the local org, a
        per-org scope for every other org (dexa.auth.orgpaths), so one org's ~/.claude never reaches another's."""
        from dataclasses import replace

        from dexa.auth.orgpaths import OrgPaths

        local = None if self.settings.hosted else self.home
        paths = OrgPaths(workspaces=self.settings.workspaces_dir, scopes=self.settings.orgs_dir, local_home=local)
        home = paths.home(org_id)
        return self if home == self.home else replace(self, home=home)

    def memory_root(self, session: Session) -> str | None:
        """Where a per-org session's memory loading stops and is confined (its workspace root); None locally."""
        if session.org_id == LOCAL_ORG and not self.settings.hosted:
            return None
        root = (self.settings.workspaces_dir / session.org_id).resolve()
        cwd = Path(session.cwd)
        return str(root if cwd == root or root in cwd.parents else cwd)

    def local(self, session: Session) -> bool:
        """A session of this machine's own user, whose trust is their own record rather than org policy."""
        return session.org_id == LOCAL_ORG and not self.settings.hosted

    async def release(self, session_id: str) -> None:
        env = self._cache.pop(session_id, None)
        if env is not None:
            payload = env.services.get("session_end_payload")
            if env.hooks is not None and payload is not None:
                await env.hooks.run("SessionEnd", payload)  # a failing hook is reported by the runner, never raised
            await env.workspace.close()
            closer = env.services.get("close")
            if closer is not None:
                await closer()
            await stop_egress(env.services)

    async def aclose(self) -> None:
        for sid in list(self._cache):
            await self.release(sid)

    def _user_plugins(self, session: Session) -> dict[str, bool]:
        """`enabledPlugins` without the repository's say (an untrusted workspace enables no plugin)."""
        from dexa.plugins.state import enabled_plugins

        return enabled_plugins(home=self.home, cwd=Path(session.cwd), managed=self.org_policy, scopes=("user",))

    async def _add_code(self, session: Session, env: SessionEnv, workspace: Any) -> None:
        """Git repos as sources: cloned through the credential proxy, linked PRs at the end."""
        wiring = self.code_provider() if self.code_provider is not None else None
        if wiring is None:
            return
        code = wiring.code
        await code.attach(session, workspace)
        for tool in code.tools():
            env.tools.add(tool)
        env.services["code"] = code
        env.system_prompt += "\n\n" + await code.system_prompt(session.id, session.org_id)

    async def _add_mcp(
        self, session: Session, env: SessionEnv, workspace: Any, extra_roots: tuple[str, ...], trust: Any
    ) -> None:
        """MCP servers (org, --mcp-config, .mcp.json, connected integrations) become session tools."""
        from dexa.adapters.mcp.config import OrgMcpPolicy, resolve_servers

        cfg = session.config
        org = OrgMcpPolicy(servers=dict((self.org_policy or {}).get("mcpServers") or {}))
        project_env = project_expansion_env(trust, local=self.local(session), env=self.env, org_policy=self.org_policy)
        resolved = resolve_servers(
            project_dir=session.cwd,
            config_files=cfg.mcp_config,
            strict=cfg.strict_mcp_config,
            org=org,
            env=self.env,
            home=self.home,
            project_servers=trust.mcp_servers,
            project_env=project_env,
        )
        connected = await self.store.kv_list("integrations", org_id=session.org_id)
        if not resolved.servers and not resolved.problems and not connected:
            return  # nothing configured: skip importing the MCP SDK at all
        import sys

        from dexa.adapters.mcp.lazy import SOURCE_SELECTION_PROMPT
        from dexa.adapters.mcp.sandbox import bwrap_wrapper
        from dexa.integrations.session_tools import mcp_tools_for_session

        wrapper = None
        if getattr(workspace, "sandboxed", False):
            wrapper = bwrap_wrapper(
                [session.cwd, *extra_roots],
                network=env.network,
                read_only=sorted({sys.prefix, sys.base_prefix}),
                protected=[str(self.settings.home)],
                egress_socket=env.services.get("egress_socket"),
            )

        async def emit(type_: str, data: Mapping[str, Any]) -> None:
            if self.emit is not None:
                await self.emit(session.id, type_, data)

        integrations = self.integrations_provider() if self.integrations_provider is not None else None
        tools, manager = await mcp_tools_for_session(
            session,
            config_files=cfg.mcp_config,
            strict=cfg.strict_mcp_config,
            org_servers=org,
            sandbox_wrapper=wrapper,
            emit=emit,
            integrations=integrations,
            kv=self.store,
            env=self.env,
            home=self.home,
            registry=env.tools,
            project_servers=trust.mcp_servers,
            project_env=project_env,
        )
        for tool in tools:
            env.tools.add(tool)
        manager.attach(env.tools)
        env.services["close"] = manager.aclose
        env.services["mcp"] = manager
        if "LoadSourceTools" in env.tools.names():  # only sessions with sources held back need the guidance
            env.system_prompt += "\n\n" + SOURCE_SELECTION_PROMPT

    async def _build(self, session: Session) -> SessionEnv:
        from dexa.adapters.anthropic import make_model
        from dexa.adapters.local_sandbox import LocalSandbox
        from dexa.agents.extensions import load_extensions, plan_model_for
        from dexa.runtime.assemble import load_session_config, read_settings
        from dexa.tools.registry import default_registry

        cfg = session.config
        trust, trust_warning = await pinned_trust(
            self.store,
            session,
            local=self.local(session),
            home=str(self.home),
            org_policy=self.org_policy,
            env=self.env,
        )
        settings, _ = read_settings(
            session.cwd,
            cfg,
            home=self.home,
            org_policy=self.org_policy,
            managed_path=self.settings.managed_settings_path,
            hosted=self.settings.hosted,
            trust=trust,
        )
        extra_roots = tuple(d for d in settings.working_dirs(cfg.add_dirs) if d != session.cwd)
        network = session_network(settings, requested=cfg.network)
        egress = await start_egress(session.id, network, self.emit)
        if self.settings.sandbox == "modal":  # the cloud workspace: a Modal sandbox on the session's volume
            from dexa.adapters.modal.factory import session_workspace

            workspace: Any = session_workspace(
                session_id=session.id,
                org_id=session.org_id,
                cwd=session.cwd,
                env=self.env,
                kv=self.store,
                network=network.enabled,
                extra_roots=extra_roots,
                emit=self.emit,
            )
        else:
            workspace = LocalSandbox(
                session.cwd,
                extra_roots=extra_roots,
                network=network.enabled,
                unsandboxed=cfg.unsandboxed or self.settings.unsandboxed,
                state_dir=str(self.settings.state_dir / session.id),
                egress_socket=egress.get("egress_socket"),
            )
        loaded = load_session_config(
            session,
            home=self.home,
            org_policy=self.org_policy,
            managed_path=self.settings.managed_settings_path,
            hosted=self.settings.hosted,
            emit=self.emit,
            workspace=workspace,
            trust=trust,
            network=network,
        )
        model = make_model(resolve_model(session.model, self.env), self.env)
        ext = load_extensions(
            session.cwd,
            home=self.home,
            stop_at=self.memory_root(session),
            managed=self.org_policy,
            claude_md_excludes=loaded.settings.claude_md_excludes,
            subagent_model=self.env.get("CLAUDE_CODE_SUBAGENT_MODEL"),
            cli_agents=cfg.extra.get("cli_agents"),
            plugin_dirs=tuple(cfg.extra.get("plugin_dirs") or ()),
            settings_plugins=None if trust.allows("enabledPlugins") else self._user_plugins(session),
        )
        tools = default_registry(list(cfg.tools) if cfg.tools is not None else None)
        for name in cfg.disallowed_tools:
            if "(" not in name:  # a bare name removes the tool entirely, as in Claude Code
                tools.remove(name)
        kept_env, held_env = command_env(loaded.settings.env)
        services: dict[str, Any] = {"network_policy": network, "command_env": kept_env}
        services.update(egress)
        web_search = getattr(model, "web_search", None)
        if web_search is not None:
            services["web_search"] = web_search
        startup: list[tuple[str, dict[str, Any]]] = [
            (EventType.CONFIG_ERROR, {"file": p.file, "key": p.key, "message": p.message})
            for p in (*loaded.problems, *ext.problems)
        ]
        if held_env:
            note = "settings env variables kept out of workspace commands (credentials): " + ", ".join(held_env)
            startup.append((EventType.WARNING, {"message": note}))
        if getattr(workspace, "warning", ""):
            startup.append((EventType.WARNING, {"message": workspace.warning}))
        if trust_warning:
            startup.append((EventType.WARNING, {"message": trust_warning}))
        env = SessionEnv(
            model=model,
            tools=tools,
            policy=loaded.policy,
            workspace=workspace,
            system_prompt=build_system_prompt(
                cwd=session.cwd,
                extra_dirs=loaded.additional_dirs,
                memory=ext.memory_text,
                append=cfg.append_system_prompt,
                replace=cfg.system_prompt,
            ),
            hooks=loaded.hooks,
            checkpointer=None if self.env.get("CLAUDE_CODE_DISABLE_FILE_CHECKPOINTING") == "1" else self.checkpointer,
            context_window=context_window(resolve_model(session.model, self.env)),
            can_prompt=not cfg.headless,
            budget_usd=loaded.budget_usd,
            loop_threshold=loaded.loop_threshold or self.settings.loop_threshold,
            network=network.enabled,
            hosted=self.settings.hosted,
            combine=loaded.combine,
            on_always_allow=loaded.on_always_allow,
            services=services,
            startup_events=startup,
        )
        await self._add_mcp(session, env, workspace, extra_roots, trust)
        await self._add_code(session, env, workspace)
        plan = plan_model_for(session.model, self.env)
        if plan:
            env.plan_model = make_model(plan, self.env)
        env = ext.customize_env(env, session)
        if self.engine is not None:
            ext.bind(self.engine, self, self.store)
        return env


@dataclass(slots=True, kw_only=True)
class Runtime:
    settings: DexaSettings
    store: Store
    blobs: BlobStore
    engine: TurnEngine
    driver: InProcessDriver
    envs: LocalEnvFactory
    base_url: str = "http://127.0.0.1:4096"
    checkpoints: Any = None
    background: list[Any] = field(default_factory=list)  # long-lived tasks (scheduler), cancelled on close
    schedules: Any = None  # dexa.triggers.schedules.ScheduleSync for an external timer; None: the serve loop
    _integrations: Any = None
    _code: Any = None
    _code_checked: bool = False

    @property
    def code(self) -> Any:
        """Repos, the git credential proxy and linked PRs; None until GitHub credentials are configured."""
        if not self._code_checked:
            self._code_checked = True
            from dexa.runtime.control_plane import code_env

            env = code_env(self.settings, dict(os.environ), self.base_url)
            if not (env.get("GITHUB_TOKEN") or env.get("DEXA_GITHUB_APP_ID")):
                return None  # no credentials: skip importing the git/GitHub stack
            from dexa.code.setup import CodeSettings

            settings = CodeSettings.from_env(env)
            if settings is not None:
                import httpx

                from dexa.checkpoints import record_side_effect
                from dexa.code.setup import build_code

                self._code = build_code(
                    settings,
                    kv=self.store,
                    state_dir=self.settings.state_dir / "code",
                    http=httpx.AsyncClient(timeout=30),
                    emit=self.engine.emit,
                    record_side_effect=record_side_effect,
                )
        return self._code

    @property
    def integrations(self) -> Any:
        """The integration registry, OAuth, vault and staged-output queue (built on first use)."""
        if self._integrations is None:
            from dexa.integrations.session_tools import build_integrations
            from dexa.runtime.control_plane import link_secret, open_vault

            vault = open_vault(self.settings, self.envs.env)
            engine = self.engine

            async def emit(session_id: str, type_: str, data: Mapping[str, Any]) -> None:
                await engine.emit(session_id, type_, data)

            self._integrations = build_integrations(
                self.store,
                vault,
                emit=emit,
                base_url=self.base_url,
                redirect_uri=f"{self.base_url}/oauth/callback",
                link_secret=link_secret(self.settings, self.envs.env),
            )
        return self._integrations

    async def create_session(
        self,
        *,
        cwd: str,
        model: str | None = None,
        org_id: str = LOCAL_ORG,
        user_id: str = LOCAL_USER,
        permission_mode: str | None = None,
        config: SessionConfig | None = None,
        title: str = "",
        session_id: str | None = None,
        parent_id: str | None = None,
    ) -> Session:
        if self.settings.sandbox == "modal":
            # A path in the session's remote workspace (checked by OrgPaths); it never exists on this disk.
            cwd = os.path.normpath(cwd)
        else:
            cwd = str(Path(cwd).resolve())
            if not Path(cwd).is_dir():
                raise ConfigError(f"working directory does not exist: {cwd}")
        from dexa.runtime.assemble import initial_mode, read_settings

        config = config or SessionConfig()
        from dexa.config.trust import session_trust

        local = org_id == LOCAL_ORG and not self.settings.hosted
        settings, _ = read_settings(
            cwd,
            config,
            home=self.envs.for_org(org_id).home,
            org_policy=self.envs.org_policy,
            managed_path=self.settings.managed_settings_path,
            hosted=self.settings.hosted,
            trust=session_trust(
                cwd, home=str(self.envs.home), local=local, org_policy=self.envs.org_policy, env=self.envs.env
            ),
        )
        permission_mode = initial_mode(permission_mode, settings)
        now = time.time()
        session = Session(
            id=session_id or new_session_id(),
            org_id=org_id,
            user_id=user_id,
            cwd=cwd,
            model=model or self.settings.default_model,
            permission_mode=permission_mode,
            title=title,
            created_at=now,
            updated_at=now,
            config=config,
            parent_id=parent_id,
        )
        await self.store.create_session(session)
        await self.engine.emit(
            session.id,
            EventType.SESSION_CREATED,
            {"cwd": cwd, "model": session.model, "permission_mode": permission_mode, "parent_id": parent_id},
        )
        return session

    async def aclose(self) -> None:
        for task in self.background:
            task.cancel()
        await self.driver.aclose()
        await self.envs.aclose()
        close = getattr(self.store, "close", None)
        if close is not None:
            close()


def check_model_credentials(model: str, env: Mapping[str, str]) -> None:
    """Fail before a session starts when no model can possibly answer, with the fix in the message."""
    if is_scripted(model):
        return
    if env.get("CLAUDE_CODE_USE_BEDROCK") in ("1", "true"):
        return
    if env.get("ANTHROPIC_API_KEY") or env.get("ANTHROPIC_AUTH_TOKEN"):
        return
    raise ConfigError(
        "No model credentials: set ANTHROPIC_API_KEY (or ANTHROPIC_AUTH_TOKEN, or CLAUDE_CODE_USE_BEDROCK=1 with AWS "
        "credentials), or run offline with a script: --model scripted:PATH/TO/script.json (see `dexa demo`)."
    )


def _storage(settings: DexaSettings, env: Mapping[str, str]) -> tuple[Store, BlobStore]:
    """SQLite + files on one machine; DynamoDB + S3 in the cloud (DEXA_STORE=dynamo, DEXA_TABLE, DEXA_BUCKET)."""
    settings.home.mkdir(parents=True, exist_ok=True)
    if settings.store == "sqlite":
        from dexa.adapters.sqlite import FileBlobStore, SqliteStore

        return SqliteStore(settings.db_path), FileBlobStore(settings.blob_dir)
    if settings.store == "dynamo":
        from dexa.adapters.aws.dynamo_store import DynamoStore
        from dexa.adapters.aws.s3_blobs import S3BlobStore

        s3 = S3BlobStore.from_env(env)
        return DynamoStore.from_env(env, overflow=s3), s3
    raise ConfigError(f"DEXA_STORE must be sqlite or dynamo, not {settings.store!r}")


def _schedules(settings: DexaSettings, env: Mapping[str, str]) -> Any:
    """EventBridge Scheduler when the stack configured a schedule group; else None: `dexa serve`'s own loop reads
    the schedule records, so there is no timer to keep in step."""
    from dexa.adapters.aws.schema import ENV_SCHEDULE_GROUP

    if settings.store == "dynamo" and env.get(ENV_SCHEDULE_GROUP):
        from dexa.adapters.aws.schedules import EventBridgeSchedules

        return EventBridgeSchedules.from_env(env)
    return None


def build_runtime(
    settings: DexaSettings, *, env: Mapping[str, str] | None = None, org_policy: Mapping[str, Any] | None = None
) -> Runtime:
    env = dict(os.environ if env is None else env)
    store, blobs = _storage(settings, env)
    redactor = Redactor(env[k] for k in SECRET_ENV_KEYS if env.get(k))
    envs = LocalEnvFactory(settings=settings, store=store, blobs=blobs, env=env, org_policy=org_policy)
    from dexa.agents.child_env import SubagentEnvs

    # Child (subagent) sessions get a derived, restricted environment; every other session the base one.
    engine = TurnEngine(store, SubagentEnvs(envs), notifier=Notifier(), redactor=redactor)
    envs.emit = engine.emit
    envs.engine = engine
    from dexa.checkpoints import CheckpointService, env_workspace_resolver

    checkpoints = CheckpointService(store, blobs, env_workspace_resolver(store, engine.envs), emit=engine.emit)
    envs.checkpointer = checkpoints
    rt = Runtime(
        settings=settings,
        store=store,
        blobs=blobs,
        engine=engine,
        driver=InProcessDriver(engine),
        envs=envs,
        checkpoints=checkpoints,
    )
    rt.schedules = _schedules(settings, env)
    from dexa.runtime.control_plane import attach_review_notifier, public_url

    rt.base_url = public_url(env, rt.base_url)
    attach_review_notifier(rt, env)
    envs.integrations_provider = lambda: rt.integrations
    envs.code_provider = lambda: rt.code
    return rt
