"""Each session's environment (SessionEnv), built from its settings files on first use: the workspace (local
bubblewrap or a Modal sandbox), tools, MCP servers, repos, extensions and services. dexa.wiring builds one factory."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio

from dexa.core.environment import SessionEnv
from dexa.core.events import EventType
from dexa.core.models import context_window, resolve_model
from dexa.core.ports import BlobStore, Store
from dexa.core.session import Session
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

# The org and user of this machine's own owner (`dexa run`, local `dexa serve`); equal to dexa.auth.bootstrap's.
LOCAL_ORG = "org_local"
LOCAL_USER = "usr_local"


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

    async def switch_model(self, session: Session) -> None:
        """Point a live environment at `session.model` (changed by /model) from its next model call on."""
        env = self._cache.get(session.id)
        if env is None:
            return  # built with the new model when first needed
        from dexa.adapters.anthropic import make_model
        from dexa.agents.extensions import plan_model_for

        env.model = make_model(resolve_model(session.model, self.env), self.env)
        env.context_window = context_window(resolve_model(session.model, self.env))
        plan = plan_model_for(session.model, self.env)
        env.plan_model = make_model(plan, self.env) if plan else None

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

    def _git_proxy_hosts(self) -> tuple[str, ...]:
        """The git credential proxy's host, when the code workflow is configured: a remote sandbox clones and
        pushes through it itself (dexa.code.transport.WorkspaceGitTransport), even with no other network."""
        wiring = self.code_provider() if self.code_provider is not None else None
        if wiring is None:
            return ()
        from urllib.parse import urlsplit

        host = urlsplit(wiring.code.proxy_url).hostname
        return (host,) if host else ()

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
        self,
        session: Session,
        env: SessionEnv,
        workspace: Any,
        extra_roots: tuple[str, ...],
        trust: Any,
        policy_layers: Mapping[str, Mapping[str, Any]] | None = None,
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
            output_policy_layers=policy_layers,
        )
        for tool in tools:
            env.tools.add(tool)
        manager.attach(env.tools)
        env.services["close"] = manager.aclose
        env.services["mcp"] = manager
        if "LoadSourceTools" in env.tools.names():  # only sessions with sources held back need the guidance
            env.system_prompt += "\n\n" + SOURCE_SELECTION_PROMPT

    async def _restore_stored(self, session: Session) -> None:
        """Settings and memory written through the API live in the Store as well; a server whose home is fresh
        (every cloud Lambda container) would otherwise run the session without them. The files are restored on
        this server's disk, where the settings are read, also when the workspace itself is a remote sandbox."""
        from dexa.auth.orgpaths import OrgPaths
        from dexa.config.stored import restore_for_session

        if self.local(session):  # the owner's own disk is the record; the API writes it directly
            return
        paths = OrgPaths(workspaces=self.settings.workspaces_dir, scopes=self.settings.orgs_dir, local_home=None)
        root = await anyio.to_thread.run_sync(paths.workspace_root, session.org_id)
        await restore_for_session(self.store, session.org_id, root, str(self.home), session.cwd)

    async def _build(self, session: Session) -> SessionEnv:
        from dexa.adapters.anthropic import make_model
        from dexa.agents.extensions import load_extensions, plan_model_for
        from dexa.runtime.assemble import load_session_config, read_settings
        from dexa.tools.registry import default_registry

        cfg = session.config
        await self._restore_stored(session)
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
                reachable_hosts=self._git_proxy_hosts(),
            )
        else:
            from dexa.adapters.local_sandbox import LocalSandbox  # here: a cloud step never loads bubblewrap's code

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
        await self._add_mcp(
            session, env, workspace, extra_roots, trust, policy_layers=loaded.settings.dexa.output_policy_layers
        )
        await self._add_code(session, env, workspace)
        plan = plan_model_for(session.model, self.env)
        if plan:
            env.plan_model = make_model(plan, self.env)
        env = ext.customize_env(env, session)
        if self.engine is not None:
            ext.bind(self.engine, self, self.store)
        return env
