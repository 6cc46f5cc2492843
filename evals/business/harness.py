"""Runs one task through the ordinary runtime and grades it.

The agent is the real thing when live (Sonnet through the Anthropic API) or a scripted agent behind the loopback
Messages API, reached through the real `anthropic` SDK either way. Each run: reset the company, run the task to the
end of its turn, snapshot what people could see (must be unchanged: everything is staged), approve every staged
output as a rubber-stamping reviewer would, then grade the company's final state and what was staged.
"""

from __future__ import annotations

import logging
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from dexa.core.session import SessionConfig
from dexa.integrations.providers.demo import monday_of

from .agents import Responder
from .tasks import SOURCES, Check, Final, Task
from .world import World, seed_billing

REVIEWER = "usr_eval_reviewer"


@dataclass(slots=True, kw_only=True)
class Result:
    task: str
    agent: str
    checks: list[Check]
    staged: dict[str, int]
    answer: str = ""
    cost_usd: float = 0.0
    turns: int = 0
    seconds: float = 0.0
    error: str = ""
    extra: dict[str, Any] = field(default_factory=dict[str, Any])

    @property
    def passed(self) -> bool:
        return not self.error and all(c[1] for c in self.checks)

    @property
    def failed_checks(self) -> list[str]:
        return [f"{name}: {detail}" if detail else name for name, good, detail in self.checks if not good]


class Harness:
    """`async with Harness(home) as h: await h.run(task)`; one runtime and one company for many runs."""

    def __init__(self, home: Path, *, live: bool = False, model: str = "sonnet") -> None:
        self.home, self.live, self.model = home, live, model
        self._agent: Responder | None = None
        self._server: Any = None
        self._saved_env: dict[str, str | None] = {}
        self.rt: Any = None
        self.world: World | None = None

    def _respond(self, body: Any) -> Any:
        return None if self._agent is None else self._agent(body)

    async def __aenter__(self) -> Harness:
        from dexa.integrations.database.provider import set_sqlite_roots
        from dexa.settings import DexaSettings
        from dexa.testing.messages_api import serve
        from dexa.testing.script import Script
        from dexa.wiring import LOCAL_ORG, build_runtime

        # A handler first, so the MCP SDK's own INFO-level set-up is a no-op (its per-request lines are noise here).
        logging.basicConfig(level=logging.WARNING)
        if not self.live:
            self._server = serve(Script(turns=(), responder=self._respond, source="evals.business scripted agent"))
            for key, value in (("ANTHROPIC_BASE_URL", self._server.url), ("ANTHROPIC_API_KEY", "loopback-eval")):
                self._saved_env[key] = os.environ.get(key)
                os.environ[key] = value
        self.home.mkdir(parents=True, exist_ok=True)
        self.rt = build_runtime(DexaSettings(home=self.home))
        integrations = self.rt.integrations
        data = self.home / "data"
        data.mkdir(exist_ok=True)
        billing = data / "billing.db"
        seed_billing(billing, monday_of(datetime.now(UTC).date()))
        await set_sqlite_roots(integrations.registry, LOCAL_ORG, [str(data)])
        await integrations.registry.add(LOCAL_ORG, {"provider": "demo"})
        await integrations.registry.add(
            LOCAL_ORG, {"provider": "sqlite", "name": "billing", "connection_string": f"sqlite:///{billing}"}
        )
        await integrations.managed.providers(LOCAL_ORG)
        self.world = World(integrations.managed.demo, billing)
        self.cwd = self.home / "work"
        self.cwd.mkdir(exist_ok=True)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.rt is not None:
            await self.rt.aclose()
        if self._server is not None:
            self._server.close()
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value

    def _reset(self) -> World:
        assert self.world is not None
        week = monday_of(datetime.now(UTC).date())
        self.world.company.reset(week_start=week)
        seed_billing(self.world.billing, week)
        return self.world

    async def run(self, task: Task, mutation: str | None = None) -> Result:
        """One run of one task; `mutation` picks a deliberately wrong scripted agent (offline only)."""
        from dexa.wiring import LOCAL_ORG

        started = time.monotonic()
        label = "live" if self.live else (mutation or "correct")
        self._agent = None if self.live else task.agent(mutation)
        world = self._reset()
        before = world.snapshot()
        config = SessionConfig(allowed_tools=tuple(f"mcp__{s}" for s in SOURCES), headless=True)
        session = await self.rt.create_session(
            cwd=str(self.cwd), model=self.model, config=config, title=f"eval {task.id} ({label})"
        )
        await self.rt.engine.submit(session.id, task.prompt)
        done = await self.rt.driver.run(session.id, wait_for_approvals=False)
        queue = self.rt.integrations.queue
        pending = await queue.list(LOCAL_ORG, session_id=session.id, status="pending")
        staged = dict(Counter(o["kind"] for o in pending))
        unsent = world.snapshot() == before
        for o in pending:
            await queue.approve(LOCAL_ORG, o["id"], by=REVIEWER)
        outputs = await queue.list(LOCAL_ORG, session_id=session.id)
        final = Final(world=world, answer=done.result or "", staged=outputs, before=before)
        checks: list[tuple[str, object, object]] = [
            ("the turn finished", done.status == "idle", done.error or done.status),
            ("nothing reached anyone before approval", unsent, ""),
            ("staged what the task needs", staged == dict(task.staged), f"staged {staged}, want {dict(task.staged)}"),
            (
                "every approved output executed",
                all(o["status"] == "executed" for o in outputs if o["id"] in {p["id"] for p in pending}),
                [o.get("error") for o in outputs if o["status"] == "failed"],
            ),
        ]
        try:
            checks += task.check(final)
        except Exception as exc:  # a grader reading a state it did not expect is a failed check, not a crash
            checks.append(("graders ran", False, f"{type(exc).__name__}: {exc}"))
        return Result(
            task=task.id,
            agent=label,
            checks=[(n, bool(g), "" if g else str(d)[:300]) for n, g, d in checks],
            staged=staged,
            answer=final.answer,
            cost_usd=float(done.cost_usd),
            turns=int(done.turns_completed),
            seconds=time.monotonic() - started,
        )
