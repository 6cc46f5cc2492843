"""One place that turns deployment settings into the code workflow's parts (for `dexa.wiring` to call).

    settings = CodeSettings.from_env(os.environ)          # None when no GitHub credential is configured
    wiring = build_code(settings, kv=store, state_dir=home / "code", http=httpx.AsyncClient(timeout=60),
                        emit=engine.emit, record_side_effect=record_side_effect)
    app = create_app(runtime, extra_routers=code_routers(wiring, start=runtime_starter(runtime, ...),
                                                         org_for=..., workspace_for=...))
    (its routes are composed by dexa.api.code_routes, above the features they join)

Environment: DEXA_GITHUB_APP_ID + DEXA_GITHUB_APP_PRIVATE_KEY (PEM text) or DEXA_GITHUB_APP_PRIVATE_KEY_PATH; or,
for development only, GITHUB_TOKEN. DEXA_GIT_PROXY_SECRET signs session tokens (a random one per process when
unset, which is fine for one process). DEXA_PUBLIC_URL is where the sandbox reaches the API (default
http://127.0.0.1:8765); DEXA_GITHUB_WEBHOOK_SECRET enables the webhook route.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from dexa.adapters.github import GitHubAppCredentials, GitHubProvider, StaticTokenCredentials
from dexa.adapters.github.client import API_URL
from dexa.core.errors import ConfigError
from dexa.core.ports import KeyValueStore

from .ports import CredentialSource, PrGate, PrStager, SessionEmit, SideEffectRecorder
from .sources import CodeSources
from .tokens import SessionTokens

if TYPE_CHECKING:  # the caller makes the client; importing httpx costs a cold start ~0.1 s (its CLI pulls in rich)
    import httpx


@dataclass(frozen=True, slots=True, kw_only=True)
class CodeSettings:
    app_id: str = ""
    private_key_pem: str = ""
    token: str = ""
    proxy_secret: str = ""
    webhook_secret: str = ""
    public_url: str = "http://127.0.0.1:8765"
    api_url: str = API_URL
    git_url: str = "https://github.com"

    @staticmethod
    def from_env(env: Mapping[str, str]) -> CodeSettings | None:
        """Raises ConfigError for a half-configured App (id without key, unreadable key file)."""
        app_id, pem = env.get("DEXA_GITHUB_APP_ID", ""), env.get("DEXA_GITHUB_APP_PRIVATE_KEY", "")
        key_path = env.get("DEXA_GITHUB_APP_PRIVATE_KEY_PATH", "")
        if key_path and not pem:
            try:
                pem = Path(key_path).read_text()
            except OSError as exc:
                raise ConfigError(f"DEXA_GITHUB_APP_PRIVATE_KEY_PATH={key_path}: {exc.strerror}") from exc
        if bool(app_id) != bool(pem):
            raise ConfigError("a GitHub App needs both DEXA_GITHUB_APP_ID and DEXA_GITHUB_APP_PRIVATE_KEY(_PATH)")
        token = env.get("GITHUB_TOKEN", "")
        if not app_id and not token:
            return None
        return CodeSettings(
            app_id=app_id,
            private_key_pem=pem,
            token=token,
            proxy_secret=env.get("DEXA_GIT_PROXY_SECRET", ""),
            webhook_secret=env.get("DEXA_GITHUB_WEBHOOK_SECRET", ""),
            public_url=env.get("DEXA_PUBLIC_URL", "http://127.0.0.1:8765").rstrip("/"),
            api_url=env.get("DEXA_GITHUB_API_URL", API_URL).rstrip("/"),
            git_url=env.get("DEXA_GITHUB_URL", "https://github.com").rstrip("/"),
        )


class _LazyAsyncClient:
    """Stands in for an httpx.AsyncClient and makes the real one on first use. Importing httpx costs a cold start
    ~0.1 s (its CLI module pulls in rich and click), and most agent steps never call GitHub."""

    __slots__ = ("_client", "_kwargs")

    def __init__(self, kwargs: dict[str, Any]) -> None:
        self._kwargs = kwargs
        self._client: Any = None

    def __getattr__(self, name: str) -> Any:
        if self._client is None:
            if name == "aclose":  # never used: nothing to close, and no reason to import httpx now
                return _nothing
            import httpx

            self._client = httpx.AsyncClient(**self._kwargs)
        return getattr(self._client, name)


async def _nothing() -> None:
    return None


def lazy_http_client(**kwargs: Any) -> httpx.AsyncClient:
    """An httpx.AsyncClient(**kwargs) created (and httpx imported) by its first request."""
    return cast("httpx.AsyncClient", _LazyAsyncClient(kwargs))


@dataclass(slots=True, kw_only=True)
class CodeWiring:
    settings: CodeSettings
    code: CodeSources
    credentials: CredentialSource
    tokens: SessionTokens
    kv: KeyValueStore
    state_dir: Path
    http: httpx.AsyncClient
    extra: dict[str, Any] = field(default_factory=dict)


def build_code(
    settings: CodeSettings,
    *,
    kv: KeyValueStore,
    state_dir: Path,
    http: httpx.AsyncClient,
    session_url: Callable[[str], str] | None = None,
    emit: SessionEmit | None = None,
    record_side_effect: SideEffectRecorder | None = None,
    gate: PrGate | None = None,
    stager: PrStager | None = None,
) -> CodeWiring:
    credentials: CredentialSource
    if settings.app_id:
        credentials = GitHubAppCredentials(
            app_id=settings.app_id, private_key_pem=settings.private_key_pem, http=http, api_url=settings.api_url
        )
    else:
        credentials = StaticTokenCredentials(token=settings.token)
    tokens = SessionTokens([settings.proxy_secret or secrets.token_hex(32)])
    web = settings.git_url
    code = CodeSources(
        kv=kv,
        tokens=tokens,
        proxy_url=f"{settings.public_url}/git",
        provider=GitHubProvider(credentials, http, api_url=settings.api_url, web_url=web),
        staging_dir=state_dir / "staging",
        session_url=session_url or (lambda sid: f"{settings.public_url}/sessions/{sid}"),
        emit=emit,
        record_side_effect=record_side_effect,
        gate=gate,
        stager=stager,
    )
    return CodeWiring(
        settings=settings, code=code, credentials=credentials, tokens=tokens, kv=kv, state_dir=state_dir, http=http
    )
