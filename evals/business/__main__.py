"""`python -m evals.business`: run the business eval.

    python -m evals.business                 offline: every task's correct script and its wrong scripts
    python -m evals.business --live -k 3     live (ANTHROPIC_API_KEY): k runs per task, pass^k and cost per task
    python -m evals.business --task crm_note --task db_mark_paid

Offline, a correct script must pass and each wrong one must fail: that checks the harness and the graders.
Live, the model is graded by the same graders.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from math import comb
from pathlib import Path

from .harness import Harness, Result
from .tasks import TASKS, Task


def pass_hat_k(successes: list[int], n: int, k: int) -> float:
    """tau-bench's pass^k: the chance that k runs of a task all pass, estimated from n runs, averaged over tasks."""
    return sum(comb(c, k) / comb(n, k) for c in successes) / len(successes)


async def offline(tasks: list[Task], home: Path, out: list[str]) -> int:
    bad = 0
    async with Harness(home) as h:
        for task in tasks:
            for mutation in [None, *task.mutations]:
                r = await h.run(task, mutation)
                expected = mutation is None
                verdict = "ok" if r.passed == expected else "WRONG"
                bad += verdict == "WRONG"
                failed = [name for name, good, _ in r.checks if not good]
                why = f"  ({'; '.join(failed)})" if failed else ""
                verdict_line = f"{verdict:5} {task.id:28} {r.agent:9} {'pass' if r.passed else 'fail'}"
                out.append(f"{verdict_line} {r.seconds:4.1f}s{why}")
                print(out[-1], flush=True)
    return bad


async def live(tasks: list[Task], home: Path, k: int, model: str) -> list[list[Result]]:
    runs: list[list[Result]] = []
    async with Harness(home, live=True, model=model) as h:
        for task in tasks:
            mine = [await h.run(task) for _ in range(k)]
            runs.append(mine)
            cost = sum(r.cost_usd for r in mine) / k
            fails = sorted({c for r in mine for c in r.failed_checks})
            print(
                f"{task.id:30} {sum(r.passed for r in mine)}/{k} pass  ${cost:.4f}/run  {'; '.join(fails)[:200]}",
                flush=True,
            )
    successes = [sum(r.passed for r in mine) for mine in runs]
    print(" ".join(f"pass^{j}={pass_hat_k(successes, k, j):.3f}" for j in range(1, k + 1)))
    total = sum(r.cost_usd for mine in runs for r in mine)
    print(f"cost: ${total:.4f} total, ${total / max(1, len(runs)):.4f} per task ({k} runs each)")
    return runs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evals.business", description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--live", action="store_true", help="grade the real model (needs ANTHROPIC_API_KEY)")
    parser.add_argument("-k", type=int, default=3, help="runs per task when live (pass^1..pass^k)")
    parser.add_argument("--model", default="sonnet")
    parser.add_argument("--task", action="append", help="only these task ids (repeatable)")
    args = parser.parse_args(argv)
    tasks = [t for t in TASKS if not args.task or t.id in args.task]
    unknown = set(args.task or ()) - {t.id for t in TASKS}
    if unknown:
        print(f"unknown task(s): {sorted(unknown)}; known: {[t.id for t in TASKS]}", file=sys.stderr)
        return 2
    if args.live and not os.environ.get("ANTHROPIC_API_KEY"):
        print("--live needs ANTHROPIC_API_KEY", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="dexa-eval-") as tmp:
        if args.live:
            asyncio.run(live(tasks, Path(tmp), args.k, args.model))
            return 0
        lines: list[str] = []
        bad = asyncio.run(offline(tasks, Path(tmp), lines))
        runs = len(lines)
        print(f"{len(tasks)} tasks, {runs} scripted runs: {runs - bad} graded as expected, {bad} not")
        return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
