"""The business eval, offline: each task's correct scripted agent passes and a deliberately wrong one fails.

This is a regression test of the harness and the graders (not of a model): the agents run through the ordinary
runtime, the real anthropic SDK and the loopback Messages API, against the demo company and a SQLite database.
Each task's correct script runs, plus one wrong script per task in rotation; `python -m evals.business` runs them all.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from evals.business.__main__ import pass_hat_k  # noqa: E402
from evals.business.harness import Harness, Result  # noqa: E402
from evals.business.tasks import TASKS  # noqa: E402


def test_there_are_at_least_twenty_tasks_over_every_business_source() -> None:
    assert len(TASKS) >= 20 and len({t.id for t in TASKS}) == len(TASKS)
    domains = {d for t in TASKS for d in t.domain.split("+")}
    assert {"calendar", "crm", "email", "tickets", "database", "chat"} <= domains
    assert sum(1 for t in TASKS if t.mutations) >= 20


def test_correct_scripts_pass_and_wrong_scripts_fail(tmp_path: Path) -> None:
    async def run_all() -> list[tuple[str | None, Result]]:
        out: list[tuple[str | None, Result]] = []
        async with Harness(tmp_path / "eval") as h:
            for i, task in enumerate(TASKS):
                out.append((None, await h.run(task)))
                if task.mutations:
                    mutation = task.mutations[i % len(task.mutations)]
                    out.append((mutation, await h.run(task, mutation)))
        return out

    results = asyncio.run(run_all())
    wrongly_failed = [f"{r.task}: {r.failed_checks}" for m, r in results if m is None and not r.passed]
    wrongly_passed = [f"{r.task} ({m})" for m, r in results if m is not None and r.passed]
    assert not wrongly_failed, wrongly_failed
    assert not wrongly_passed, f"graders missed a wrong script: {wrongly_passed}"
    # Every mutation kind is exercised somewhere.
    assert {m for m, _ in results if m} == {"lazy", "corrupt", "overreach"}


def test_pass_hat_k_is_taus_estimator() -> None:
    # Two tasks, 3 runs each: one passed all 3, one passed 1.
    assert pass_hat_k([3, 1], 3, 1) == (1 + 1 / 3) / 2
    assert pass_hat_k([3, 1], 3, 2) == (1 + 0) / 2
    assert pass_hat_k([3, 1], 3, 3) == 0.5
