"""Test harness: an API over an offline runtime, two orgs (a, b) and a key per role in each."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from dexa.api.app import create_app
from dexa.api.fake_runtime import FakeRuntime, fake_runtime, tool_loop_model
from dexa.api.ratelimit import RateLimit
from dexa.api.sse import StreamConfig
from dexa.auth.orgpaths import OrgPaths
from dexa.auth.service import AuthService
from dexa.core.ports import Model, PermissionPolicy, Store
from dexa.core.tools import Tool

ROLES = ("admin", "member", "reviewer")


@dataclass
class Api:
    app: FastAPI
    runtime: FakeRuntime
    auth: AuthService
    tokens: dict[str, str] = field(default_factory=dict)
    users: dict[str, str] = field(default_factory=dict)

    def h(self, who: str = "a_admin") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}


async def add_org(auth: AuthService, tag: str, api: Api) -> None:
    org = await auth.create_org(f"org {tag}", org_id=f"org_{tag}")
    for role in ROLES:
        user = await auth.create_user(org.id, f"{tag}-{role}", role, user_id=f"usr_{tag}_{role}")
        _, token = await auth.create_key(org.id, user.id, f"{tag}-{role}")
        api.tokens[f"{tag}_{role}"] = token
        api.users[f"{tag}_{role}"] = user.id


def make_api(
    tmp_path: Path,
    *,
    model: Model | None = None,
    policy: PermissionPolicy | None = None,
    tools: Sequence[Tool] | None = None,
    store: Store | None = None,
    **app_kwargs: Any,
) -> Api:
    runtime = fake_runtime(
        tmp_path / "home",
        model=model or tool_loop_model(tool_calls=1, delay_s=0),
        policy=policy,
        workspace=tmp_path / "ws",
        tools=tools,
        store=store,
    )
    auth = AuthService(runtime.store)
    app_kwargs.setdefault("rate_limit", RateLimit(rate=10_000, burst=10_000))
    app_kwargs.setdefault("stream", StreamConfig(heartbeat_s=15, max_s=0.5, poll_s=0.05))
    ws = tmp_path / "ws"
    app_kwargs.setdefault("test_mode", True)
    if "org_paths" not in app_kwargs:
        # Both test orgs may use the shared `ws` (older tests start sessions there); tenancy and attack tests
        # pass their own OrgPaths with nothing shared.
        cfg = app_kwargs.get("config_home")
        app_kwargs["org_paths"] = OrgPaths(
            workspaces=tmp_path / "workspaces",
            scopes=tmp_path / "orgs",
            local_home=None if cfg is None else Path(cfg),
            extra_roots=dict.fromkeys(("org_a", "org_b", "org_local"), (ws,)),
        )
    app = create_app(runtime, auth=auth, default_cwd=str(ws), **app_kwargs)
    api = Api(app=app, runtime=runtime, auth=auth)

    async def setup() -> None:
        await add_org(auth, "a", api)
        await add_org(auth, "b", api)

    asyncio.run(setup())
    return api


def wait_for(predicate: Any, timeout: float = 10.0, interval: float = 0.01) -> Any:
    """Poll a condition with a deadline (HTTP-side state has no notification to wait on)."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)


class MemoryRewinder:
    """A Rewinder double: two checkpoints per session; an unknown id is CheckpointNotFoundError."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str, str]] = []

    async def list_checkpoints(self, session_id: str) -> list[dict[str, Any]]:
        return [
            {"id": "cp_2", "created_at": 2.0, "reason": "tool"},
            {"id": "cp_1", "created_at": 1.0, "reason": "prompt"},
        ]

    async def rewind(self, session_id: str, *, checkpoint_id: str, mode: str, on_conflict: str) -> dict[str, Any]:
        from dexa.core.errors import CheckpointNotFoundError

        if checkpoint_id not in ("cp_1", "cp_2"):
            raise CheckpointNotFoundError(f"checkpoint {checkpoint_id} not found")
        self.calls.append((session_id, checkpoint_id, mode, on_conflict))
        return {"restored_files": 1, "hidden_messages": 2}


async def rule_check(*, org_id: str, tool: str, tool_input: Any, cwd: str, mode: str) -> Any:
    from dexa.testing.fakes import RulePolicy

    return RulePolicy(ask={"Bash"}, deny={"Delete"}).decide(tool, tool_input, mode=mode, cwd=cwd)


class YieldingStore:
    """Wraps a store so every call yields to the event loop first, like a networked store (DynamoDB) would.

    Appending an event of type `slow_type` takes `slow_s` (a slow write at a chosen moment).
    """

    def __init__(self, inner: Any, *, slow_type: str = "", slow_s: float = 0.0) -> None:
        self._inner = inner
        self._slow_type = slow_type
        self._slow_s = slow_s

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if not asyncio.iscoroutinefunction(attr):
            return attr

        async def call(*args: Any, **kwargs: Any) -> Any:
            slow = name == "append_event" and len(args) > 1 and args[1] == self._slow_type
            await asyncio.sleep(self._slow_s if slow else 0)
            return await attr(*args, **kwargs)

        return call


class MemoryOAuth:
    """An OAuthConnector double: begin hands out a state bound to the org; complete spends it once.

    Another org's state (or an unknown one) is NotFoundError, as the real port answers.
    """

    def __init__(self, integrations: Any) -> None:
        self.integrations = integrations
        self.pending: dict[str, tuple[str, str, str]] = {}
        self.starters: dict[str, tuple[str, str]] = {}  # state -> (org, user) who began it
        self.policies: dict[str, str] = {}
        self.granted: dict[tuple[str, str], set[str]] = {}

    async def begin_connect(self, org_id: str, integration_id: str, *, user_id: str, owner: str = "org") -> str:
        import secrets

        state = secrets.token_urlsafe(16)
        self.pending[state] = (org_id, integration_id, owner)
        self.starters[state] = (org_id, user_id)
        return f"https://auth.example.com/authorize?state={state}&client_id=dexa"

    async def complete_connect(
        self,
        org_id: str,
        *,
        state: str,
        code: str,
        iss: str | None = None,
        user_id: str = "",
        may_connect_org: bool = True,
    ) -> Any:
        from dataclasses import replace

        from dexa.core.errors import NotFoundError, PermissionDeniedError

        found = self.pending.get(state)
        if found is None or found[0] != org_id or found[2] not in ("org", f"user:{user_id}"):
            raise NotFoundError("unknown or already used OAuth state")
        if found[2] == "org" and not may_connect_org:
            raise PermissionDeniedError("only an admin can connect the organisation's shared grant")
        del self.pending[state]
        self.granted.setdefault((org_id, found[1]), set()).add(found[2])
        item = next(i for i in await self.integrations.list(org_id) if i.id == found[1])
        return replace(item, grant_owner=found[2])

    async def started_by(self, state: str) -> tuple[str, str] | None:
        return self.starters.get(state) if state in self.pending else None

    async def grants(self, org_id: str, integration_id: str, *, user_id: str) -> dict[str, Any]:
        from dexa.core.errors import NotFoundError

        if not any(i.id == integration_id for i in await self.integrations.list(org_id)):
            raise NotFoundError(f"no integration {integration_id}")
        have = self.granted.get((org_id, integration_id), set())
        visible = [o for o in ("org", f"user:{user_id}") if o in have]
        mine = f"user:{user_id}" in have
        return {
            "policy": self.policies.get(integration_id, "user_first"),
            "grant_owner": f"user:{user_id}" if mine else ("org" if "org" in have else None),
            "grants": [{"owner": o, "status": "ok"} for o in visible],
        }

    async def forget_grant(self, org_id: str, integration_id: str, owner: str) -> None:
        from dexa.core.errors import NotFoundError

        have = self.granted.get((org_id, integration_id), set())
        if owner not in have:
            raise NotFoundError(f"integration {integration_id} has no grant of {owner}")
        have.discard(owner)

    async def set_grant_policy(self, org_id: str, integration_id: str, policy: str) -> None:
        await self.grants(org_id, integration_id, user_id="")
        self.policies[integration_id] = policy


def link_signer(store: Any) -> Any:
    """The real ApprovalLinks over the test store (a fixed secret; links point at the local web UI)."""
    from dexa.integrations.outputs.links import ApprovalLinks

    return ApprovalLinks(b"test-secret-0123456789abcdef", base_url="http://testserver", kv=store)


def make_config_api(tmp_path: Path, **app_kwargs: Any) -> Api:
    """An API with every optional port the config routes need: config home, OAuth double, approval links."""
    home = tmp_path / "cfg-home"
    home.mkdir(parents=True, exist_ok=True)
    api = make_api(tmp_path, config_home=home, **app_kwargs)
    ctx = api.app.state.dexa
    ctx.oauth = MemoryOAuth(ctx.integrations)
    ctx.links = link_signer(api.runtime.store)
    return api
