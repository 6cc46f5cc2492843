"""Grep benchmark: Dexa's Grep tool (ripgrep in the bubblewrap workspace) against bare `rg` on the same generated tree.

    .venv/bin/python benchmarks/grep.py [--files 40000] [--runs 5]

Target (issue 18): Grep <= 1.2x bare rg, same query and tree. Also prints the walk-and-read fallback on a smaller
share of the tree (it is what runs where rg is missing), to show why rg is the engine.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from dexa.adapters.local_sandbox import LocalSandbox, SandboxLimits
from dexa.testing.fakes import tool_context
from dexa.tools.search import Grep

WORDS = ["alpha", "beta", "gamma", "delta", "value", "return", "import", "config", "handler", "result"]


def box_limits_cpus() -> float:
    return SandboxLimits().effective_cpus()


def generate(root: Path, files: int, seed: int = 18) -> None:
    rng = random.Random(seed)
    for i in range(files):
        p = root / f"pkg{i % 50:02d}" / f"mod{i % 17:02d}" / f"file{i:05d}.py"
        p.parent.mkdir(parents=True, exist_ok=True)
        lines = [" ".join(rng.choices(WORDS, k=8)) for _ in range(rng.randint(5, 60))]
        if i % 997 == 0:
            lines.insert(rng.randint(0, len(lines)), "def needle_function(x): return x")
        p.write_text("\n".join(lines) + "\n")
    (root / ".gitignore").write_text("*.log\n")


def time_rg(root: Path, pattern: str, cores: int = 0) -> float:
    pin = ["taskset", "-c", ",".join(str(c) for c in range(cores))] if cores and shutil.which("taskset") else []
    started = time.perf_counter()
    subprocess.run([*pin, "rg", "--hidden", "-l", "-e", pattern, str(root)], capture_output=True, check=False)
    return time.perf_counter() - started


async def time_grep(ctx: object, root: Path, pattern: str, engine: bool) -> tuple[float, int]:
    ctx.services["ripgrep"] = engine  # type: ignore[attr-defined]
    started = time.perf_counter()
    out = await Grep().run({"pattern": pattern, "path": str(root)}, ctx)  # type: ignore[arg-type]
    return time.perf_counter() - started, int(out.data.get("numFiles", 0))


async def main(files: int, runs: int) -> None:
    if shutil.which("rg") is None:
        raise SystemExit("ripgrep is not installed: apt-get install ripgrep (make system-deps does)")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "tree"
        generate(root, files)
        box = LocalSandbox(str(root), state_dir=str(Path(tmp) / "state"))
        ctx = tool_context(box, str(root), [])
        pattern = r"def needle_\w+"
        time_rg(root, pattern)  # warm the page cache for both
        # The sandbox gets all cores but one (its cgroup's CPU quota): bare rg is timed both ways.
        budget = max(1, int(box_limits_cpus()))
        rg_times, pinned_times, grep_times = [], [], []
        found = 0
        for _ in range(runs):  # alternate so neither side gets a warmer cache
            rg_times.append(time_rg(root, pattern))
            pinned_times.append(time_rg(root, pattern, budget))
            elapsed, found = await time_grep(ctx, root, pattern, True)
            grep_times.append(elapsed)
        rg_ms, grep_ms = statistics.median(rg_times) * 1000, statistics.median(grep_times) * 1000
        pinned_ms = statistics.median(pinned_times) * 1000
        print(f"tree: {files} files; pattern {pattern!r}; {found} files match; median of {runs}")
        print(f"bare rg, all cores:       {rg_ms:8.1f} ms")
        print(f"bare rg, {budget} core(s):        {pinned_ms:8.1f} ms   (the sandbox's CPU budget)")
        print(f"Grep (rg in bwrap):       {grep_ms:8.1f} ms   ratio {grep_ms / rg_ms:.2f}x all cores, ")
        print(f"                                      {grep_ms / pinned_ms:.2f}x same budget (target <= 1.2x)")
        share = root / "pkg00"
        fallback, _ = await time_grep(ctx, share, pattern, False)
        engine, _ = await time_grep(ctx, share, pattern, True)
        count = sum(1 for p in share.rglob("*") if p.is_file())
        print(f"fallback walk+read on {count} files: {fallback * 1000:8.1f} ms (rg there: {engine * 1000:.1f} ms)")
        await box.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=40_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(main(args.files, args.runs))
