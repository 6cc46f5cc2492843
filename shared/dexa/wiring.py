"""build_runtime(settings): the only place that chooses adapters.

The session environment factory lives in dexa.runtime.envs; the cloud-or-local secrets, public URL, schedule timer
and GitHub settings in dexa.runtime.control_plane. LOCAL_ORG, LOCAL_USER and LocalEnvFactory are re-exported here.
"""

from __future__ import annotations

import functools
import logging
import os
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dexa.core import tracing
from dexa.core.bus import Notifier
from dexa.core.driver import InProcessDriver
from dexa.core.engine import TurnEngine
from dexa.core.errors import ConfigError
from dexa.core.events import EventType
from dexa.core.models import is_scripted
from dexa.core.ports import BlobStore, Store
from dexa.core.redact import Redactor
from dexa.core.session import Session, SessionConfig
from dexa.runtime.envs import LOCAL_ORG, LOCAL_USER, LocalEnvFactory
from dexa.settings import DexaSettings

__all__ = [
    "LOCAL_ORG",
    "LOCAL_USER",
    "SECRET_ENV_KEYS",
    "LocalEnvFactory",
    "Runtime",
    "build_runtime",
    "check_model_credentials",
    "new_session_id",
]

logger = logging.getLogger(__name__)

# Where `dexa serve` answers when no public URL is configured (OAuth callbacks and reply links start from it).
DEFAULT_BASE_URL = "http://127.0.0.1:4096"
SECRET_ENV_KEYS = ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "AWS_SECRET_ACCESS_KEY", "GITHUB_TOKEN", "GH_TOKEN")


def new_session_id() -> str:
    return "ses_" + uuid.uuid4().hex[:20]


@dataclass(slots=True, kw_only=True)
class Runtime:
    settings: DexaSettings
    store: Store
    blobs: BlobStore
    engine: TurnEngine
    driver: InProcessDriver
    envs: LocalEnvFactory
    checkpoints: Any = None
    background: list[Any] = field(default_factory=list)  # long-lived tasks (scheduler), cancelled on close
    schedules: Any = None  # dexa.triggers.schedules.ScheduleSync for an external timer; None: the serve loop
    _integrations: Any = None
    _code: Any = None
    _code_checked: bool = False
    _base_url: str = DEFAULT_BASE_URL
    # How the deployment's public URL is found (an SSM read in the cloud), run on first use: a cold API request
    # that builds no link never pays it.
    _resolve_base_url: Callable[[str], str] | None = None

    @property
    def base_url(self) -> str:
        """The URL clients reach this runtime at (links in mail, Slack, OAuth redirects)."""
        if self._resolve_base_url is not None:
            resolve, self._resolve_base_url = self._resolve_base_url, None
            self._base_url = resolve(self._base_url)
        return self._base_url

    @base_url.setter
    def base_url(self, url: str) -> None:
        self._base_url, self._resolve_base_url = url, None

    def resolve_base_url(self, resolve: Callable[[str], str]) -> None:
        """`resolve(current)` gives the base URL the first time it is read."""
        self._resolve_base_url = resolve

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
                from dexa.checkpoints import record_side_effect
                from dexa.code.setup import build_code, lazy_http_client

                self._code = build_code(
                    settings,
                    kv=self.store,
                    state_dir=self.settings.state_dir / "code",
                    http=lazy_http_client(timeout=30),
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
                demo_path=self.settings.state_dir / "demo-company.db",
            )
            from dexa.runtime.output_delivery import attach_output_delivery

            attach_output_delivery(self._integrations, self)
            from dexa.runtime.output_ledger import attach_output_ledger

            attach_output_ledger(self._integrations, self.store)
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


def build_runtime(
    settings: DexaSettings, *, env: Mapping[str, str] | None = None, org_policy: Mapping[str, Any] | None = None
) -> Runtime:
    env = dict(os.environ if env is None else env)
    if tracing.wanted(env):  # OpenTelemetry only when an OTLP endpoint is set: off, the SDK is never imported
        from dexa.adapters.otel import install_from_env

        install_from_env(env)
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
    from dexa.runtime.control_plane import attach_review_notifier, public_url, schedule_timer

    rt.schedules = schedule_timer(settings, env)
    rt.resolve_base_url(functools.partial(public_url, env))
    attach_review_notifier(rt, env)
    envs.integrations_provider = lambda: rt.integrations
    envs.code_provider = lambda: rt.code
    from dexa.runtime.output_delivery import lazy_output_decider

    engine.deciders["output"] = lazy_output_decider(rt)
    return rt
