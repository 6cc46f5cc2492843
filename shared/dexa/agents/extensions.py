"""Everything this package adds to a session, loaded in one call from the env factory.

    ext = load_extensions(session.cwd, home=home, settings_plugins=effective.enabled_plugins, managed=policy)
    prompt = build_system_prompt(cwd=..., memory=ext.memory_text, ...)
    env = SessionEnv(...)                      # the lead's tools, policy, hooks (+ ext.hooks merged in)
    env = ext.customize_env(env, session)      # adds the tools and per-session services, wraps policy/hooks
    ...
    ext.bind(engine, env_factory, store)       # once, after the engine exists

Problems (broken SKILL.md, agent, plugin.json, marketplace or rule frontmatter) are `SettingsProblem`s for
`config.error` events; each one skips only its own item.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dexa.commands.loader import discover_commands
from dexa.config.settings import SettingsProblem
from dexa.core.engine import TurnEngine
from dexa.core.environment import EnvFactory, SessionEnv
from dexa.core.errors import ConfigError
from dexa.core.models import PLAN_ALIASES, plan_and_exec_models, split_context_suffix
from dexa.core.ports import Store
from dexa.core.session import Session
from dexa.core.tools import TOOL_ALIASES, Tool
from dexa.memory import MemoryConfig, MemoryFile, MemoryIndex, render_memory
from dexa.memory.loader import MANAGED_DIR
from dexa.plugins import LoadedPlugin, PluginStore, enabled_plugins, load_plugin
from dexa.plugins.state import data_dir_name, settings_path
from dexa.skills import SkillGrants, SkillRegistry, SkillTool, discover_skills
from dexa.skills.model import Skill

from .binding import EngineLink
from .builtin import BUILTIN_AGENTS
from .definitions import AgentRegistry, discover_agents
from .plan_mode import EnterPlanModeTool, ExitPlanModeTool
from .questions import ANSWERS_KEY, AskUserQuestionTool
from .runner import SubagentRunner
from .session_layer import AgentPolicy, SessionHooks
from .task_tool import TaskTool

logger = logging.getLogger(__name__)


@dataclass(slots=True, kw_only=True)
class Extensions:
    cwd: str
    home: str
    memory: MemoryIndex
    commands: SkillRegistry  # skills and commands, by slash name
    skills: list[Skill]
    agents: AgentRegistry
    plugins: list[LoadedPlugin]
    tools: list[Tool]
    runner: SubagentRunner
    link: EngineLink
    problems: list[SettingsProblem] = field(default_factory=list)
    # Claude Code hooks dict contributed by enabled plugins: {event: [matcher groups]}.
    hooks: dict[str, list[Any]] = field(default_factory=dict)
    # MCP servers from enabled plugins, keyed `plugin_<plugin>_<server>` (tools: mcp__plugin_<p>_<s>__<tool>).
    mcp_servers: dict[str, dict[str, Any]] = field(default_factory=dict)
    restrict_skill_tools: bool = False

    @property
    def memory_text(self) -> str:
        return render_memory(self.memory.files)

    @property
    def memory_files(self) -> list[MemoryFile]:
        return list(self.memory.files)

    @property
    def services(self) -> dict[str, Any]:
        """Session-independent services; `customize_env` adds the per-session ones."""
        return {"subagents": self.runner, "engine_link": self.link}

    def bind(self, engine: TurnEngine, env_factory: EnvFactory | None = None, store: Store | None = None) -> None:
        self.link.bind(engine)
        self.runner.bind(engine, env_factory, store)

    def tools_for(self, session: Session) -> list[Tool]:
        cfg = session.config
        banned = {TOOL_ALIASES.get(n, n) for n in cfg.disallowed_tools if "(" not in n}
        wanted = None if cfg.tools is None else {TOOL_ALIASES.get(n, n) for n in cfg.tools}
        return [t for t in self.tools if t.spec.name not in banned and (wanted is None or t.spec.name in wanted)]

    def customize_env(self, env: SessionEnv, session: Session) -> SessionEnv:
        """Add Task/Skill/plan/question tools and per-session services; wrap policy and hooks."""
        grants = SkillGrants(cwd=session.cwd, home=self.home, restrict=self.restrict_skill_tools)
        cfg = session.config
        answerable = not cfg.headless or cfg.extra.get(ANSWERS_KEY) is not None
        env.policy = AgentPolicy(env.policy, grants, questions_answerable=answerable)
        env.hooks = SessionHooks(env.hooks, grants=grants, config=session.config)
        for tool in self.tools_for(session):
            env.tools.add(tool)
        env.services.update(self.services)
        env.services.update({"skill_grants": grants, "memory": self.memory.fork(), "skills": self.commands})
        return env


def plan_model_for(alias: str, env: Mapping[str, str] | None = None) -> str | None:
    """The plan-mode model for `opusplan` / `sonnetplan` (+`[1m]`), else None. Set it as `SessionEnv.plan_model`."""
    name, _ = split_context_suffix(alias)
    if name.lower() not in PLAN_ALIASES:
        return None
    return plan_and_exec_models(alias, env)[0]


def _plugins(home: Path, cwd: Path, enabled: Mapping[str, bool]) -> tuple[list[LoadedPlugin], list[SettingsProblem]]:
    store = PluginStore(home, cwd=cwd)
    loaded: list[LoadedPlugin] = []
    problems: list[SettingsProblem] = []
    try:
        installed = {p.id: p for p in store.installed(enabled)}
    except ConfigError as exc:  # a corrupt state file must not stop the session
        problems.append(SettingsProblem(str(store.root / "installed_plugins.json"), "", str(exc)))
        installed = {}
    for pid, on in enabled.items():
        if on and pid not in installed:
            problems.append(
                SettingsProblem(
                    str(settings_path("user", home=home, cwd=cwd)),
                    f"enabledPlugins.{pid}",
                    (
                        f"plugin {pid} is enabled in settings but not installed; installing runs its code, so it "
                        f"is never automatic: run `dexa plugins install {pid}`"
                    ),
                )
            )
    for plugin in installed.values():
        if not plugin.enabled:
            continue
        if not plugin.path.is_dir():
            problems.append(SettingsProblem(str(plugin.path), "", f"installed plugin {plugin.id} is missing on disk"))
            continue
        item, issues = load_plugin(
            plugin.path,
            data_dir=store.root / "data" / data_dir_name(plugin.id),
            project_dir=str(cwd),
            name_override=plugin.name,
        )
        problems += issues
        if item is not None:
            loaded.append(item)
    return loaded, problems


def _dir_plugins(home: Path, cwd: Path, dirs: Sequence[str]) -> tuple[list[LoadedPlugin], list[SettingsProblem]]:
    """`--plugin-dir`: the user named the directory on the command line, so it loads like a user-scope plugin
    (no install step, no trust prompt); it wins over an installed plugin of the same name, as in Claude Code."""
    loaded: list[LoadedPlugin] = []
    problems: list[SettingsProblem] = []
    for d in dirs:
        root = Path(d)
        if not root.is_dir():
            problems.append(SettingsProblem(str(root), "", "--plugin-dir: not a directory"))
            continue
        item, issues = load_plugin(
            root,
            data_dir=PluginStore(home, cwd=cwd).root / "data" / data_dir_name(f"{root.name}@inline"),
            project_dir=str(cwd),
        )
        problems += issues
        if item is not None:
            loaded.append(item)
    return loaded, problems


def load_extensions(
    cwd: str,
    *,
    home: str | Path,
    settings_plugins: Mapping[str, bool] | None = None,
    managed: Mapping[str, Any] | None = None,
    managed_dir: str | None = MANAGED_DIR,
    cli_agents: str | Mapping[str, Any] | None = None,
    plugin_dirs: Sequence[str] = (),
    stop_at: str | None = None,
    allow_external_imports: bool = False,
    subagent_model: str | None = None,
    skill_shell_enabled: bool = True,
    restrict_skill_tools: bool = False,
    claude_md_excludes: tuple[str, ...] = (),
) -> Extensions:
    """Memory, skills, commands, subagents and plugins for a session started in `cwd`.

    settings_plugins: the effective `enabledPlugins` (None reads the user/project/local settings files here).
    managed: managed settings / org policy (`claudeMd`, `claudeMdExcludes`, `enabledPlugins`).
    claude_md_excludes: `claudeMdExcludes` from the user and local settings (EffectiveSettings.claude_md_excludes).
    subagent_model: CLAUDE_CODE_SUBAGENT_MODEL. skill_shell_enabled: False for `disableSkillShellExecution`.
    cli_agents: `--agents` JSON. plugin_dirs: `--plugin-dir` directories, loaded for this session only.
    """
    home_path = Path(home)
    managed = managed or {}
    # Managed policy's list plus the user/local settings' (the caller drops the project's shared settings).
    excludes = (*(managed.get("claudeMdExcludes") or ()), *claude_md_excludes)
    memory = MemoryIndex.load(
        MemoryConfig(
            cwd=cwd,
            home=str(home_path),
            managed_dir=managed_dir,
            managed_text=str(managed.get("claudeMd") or ""),
            stop_at=stop_at,
            excludes=tuple(excludes),
            allow_external_imports=allow_external_imports,
        )
    )
    problems: list[SettingsProblem] = list(memory.startup.problems)
    enabled = (
        dict(settings_plugins)
        if settings_plugins is not None
        else enabled_plugins(home=home_path, cwd=Path(cwd), managed=managed)
    )
    plugins, issues = _plugins(home_path, Path(cwd), enabled)
    problems += issues
    dir_plugins, issues = _dir_plugins(home_path, Path(cwd), plugin_dirs)
    plugins = [*dir_plugins, *(p for p in plugins if p.ref.name not in {d.ref.name for d in dir_plugins})]
    problems += issues
    skills, issues = discover_skills(
        cwd=cwd,
        home=str(home_path),
        managed_dir=managed_dir,
        stop_at=stop_at,
        plugins=[(p.ref, p.skill_dirs) for p in plugins],
    )
    problems += issues
    commands, issues = discover_commands(
        cwd=cwd, home=str(home_path), stop_at=stop_at, plugins=[(p.ref, p.command_paths) for p in plugins]
    )
    problems += issues
    registry = SkillRegistry([*skills, *commands])
    agents, issues = discover_agents(
        cwd=cwd,
        home=str(home_path),
        managed_dir=managed_dir,
        cli_agents=cli_agents,
        stop_at=stop_at,
        plugins=[(p.ref, p.agent_paths) for p in plugins],
        builtins=BUILTIN_AGENTS,
    )
    problems += issues
    link = EngineLink()
    runner = SubagentRunner(
        agents,
        skill_bodies={s.name: s.body for s in skills},
        subagent_model=subagent_model,
        memory_text=render_memory(memory.files),
    )
    tools: list[Tool] = [
        TaskTool(agents),
        SkillTool(registry, shell_enabled=skill_shell_enabled),
        EnterPlanModeTool(link),
        ExitPlanModeTool(link),
        AskUserQuestionTool(link),
    ]
    hooks: dict[str, list[Any]] = {}
    servers: dict[str, dict[str, Any]] = {}
    for plugin in plugins:
        for event, groups in plugin.hooks.items():
            hooks.setdefault(event, []).extend(groups)
        servers.update(plugin.mcp_servers)
    for p in problems:
        logger.warning("config problem: %s", p)
    return Extensions(
        cwd=cwd,
        home=str(home_path),
        memory=memory,
        commands=registry,
        skills=skills,
        agents=agents,
        plugins=plugins,
        tools=tools,
        runner=runner,
        link=link,
        problems=problems,
        hooks=hooks,
        mcp_servers=servers,
        restrict_skill_tools=restrict_skill_tools,
    )
