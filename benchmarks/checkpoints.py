"""Checkpoint benchmark: snapshot and rewind speed, and storage growth, on a generated workspace.

    .venv/bin/python benchmarks/checkpoints.py [--files 10000] [--mb 100] [--changed 10]

Targets (issue 6): first checkpoint <= 3 s; incremental checkpoint after 10 changed files <= 150 ms; rewind of
10 files <= 300 ms; storage growth per incremental checkpoint ~ the changed bytes only.

Then (issue 18, `--only big` for just this part) a 36.7k-file tree with node_modules, .venv, dist and
__pycache__ and no .gitignore at all: the first checkpoint must store <= 10% of the tree's bytes and take <= 3 s,
and `dexa checkpoints gc` must free what a deleted session's checkpoints left behind.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import tempfile
import time
from pathlib import Path

from dexa.adapters.sqlite import FileBlobStore, SqliteStore
from dexa.checkpoints import CheckpointService
from dexa.checkpoints.hostfs import HostDirWorkspace
from dexa.core.session import Session


def generate(root: Path, files: int, total_bytes: int, seed: int = 6) -> list[Path]:
    """`files` tracked files of varied sizes summing to ~total_bytes, plus an ignored node_modules tree."""
    rng = random.Random(seed)
    weights = [rng.paretovariate(1.5) for _ in range(files)]
    scale = total_bytes / sum(weights)
    paths: list[Path] = []
    for i, w in enumerate(weights):
        p = root / f"pkg{i % 40:02d}" / f"mod{i % 13:02d}" / f"file{i:05d}.txt"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(rng.randbytes(max(1, min(int(w * scale), 4 * 1024 * 1024))))
        paths.append(p)
    (root / ".gitignore").write_text("node_modules/\n*.log\n")
    for i in range(1000):
        p = root / "node_modules" / f"dep{i % 20}" / f"index{i}.js"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"module.exports = 1;\n")
    return paths


def dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


async def blob_store_floor(paths: list[Path], where: Path) -> float:
    """Time to put every file into an empty FileBlobStore: the storage cost any first checkpoint pays."""
    blobs = FileBlobStore(where)
    t = time.perf_counter()
    for p in paths:
        await blobs.put_blob(p.read_bytes())
    return time.perf_counter() - t


def change(paths: list[Path], n: int, tag: str) -> int:
    changed = 0
    for p in paths[:: max(1, len(paths) // n)][:n]:
        data = p.read_bytes()
        new = tag.encode() + data[len(tag) :] if len(data) > len(tag) else tag.encode()
        p.write_bytes(new)
        changed += len(new)
    return changed


async def run(files: int, mb: int, n_changed: int) -> None:
    with tempfile.TemporaryDirectory(prefix="dexa-bench-") as tmp:
        base = Path(tmp)
        root = base / "ws"
        root.mkdir()
        t0 = time.perf_counter()
        paths = generate(root, files, mb * 1024 * 1024)
        took = time.perf_counter() - t0
        print(f"generated {files} files, {dir_bytes(root) / 1e6:.1f} MB (+1000 ignored files) in {took:.1f}s")
        store = SqliteStore(base / "dexa.db")
        blobs = FileBlobStore(base / "blobs")
        await store.create_session(Session(id="bench", org_id="o", user_id="u", cwd=str(root), model="m"))
        workspace = HostDirWorkspace(str(root))

        async def workspace_for(session_id: str) -> HostDirWorkspace:
            return workspace

        service = CheckpointService(store, blobs, workspace_for, max_workspace_bytes=1024 * 1024 * 1024)

        t = time.perf_counter()
        first = await service.checkpoint("bench", reason="prompt", message_id=None)
        first_s = time.perf_counter() - t
        assert first is not None

        results: list[tuple[str, float, float]] = [("first checkpoint", first_s, 3.0)]
        growth: list[tuple[int, int, int]] = []
        last = first
        for label in ("incremental checkpoint (after first)", "incremental checkpoint (steady state)"):
            changed_bytes = change(paths, n_changed, f"edit-{label}-")
            before = dir_bytes(base / "blobs")
            t = time.perf_counter()
            last = await service.checkpoint("bench", reason="tool", message_id=None)
            elapsed = time.perf_counter() - t
            assert last is not None
            ckpt = await service.repo.get("bench", last)
            growth.append((changed_bytes, dir_bytes(base / "blobs") - before, ckpt.hashed))
            results.append((f"{label}, {n_changed} files changed", elapsed, 0.150))

        t = time.perf_counter()
        report = await service.rewind("bench", checkpoint_id=first, mode="code", on_conflict="ask")
        rewind_s = time.perf_counter() - t
        assert report["status"] == "ok", report
        results.append((f"rewind of {len(report['restored'])} files", rewind_s, 0.300))

        print()
        for label, seconds, target in results:
            verdict = "ok" if seconds <= target else "OVER TARGET"
            print(f"{label:<62} {seconds * 1000:9.1f} ms   target {target * 1000:6.0f} ms   {verdict}")
        print()
        for (changed_bytes, grown, hashed), label in zip(growth, ("after first", "steady state"), strict=True):
            print(
                f"storage growth per incremental checkpoint ({label}): {grown / 1024:.1f} KiB blobs for "
                f"{changed_bytes / 1024:.1f} KiB changed ({grown / max(changed_bytes, 1):.2f}x); files re-hashed: "
                f"{hashed}"
            )
        first_bytes = (await service.repo.get("bench", first)).bytes_added
        total = dir_bytes(base / "blobs")
        print(
            f"first checkpoint stored {first_bytes / 1e6:.1f} MB (content + full manifest); "
            f"blobs total {total / 1e6:.1f} MB"
        )
        floor = await blob_store_floor(paths, base / "floor")
        print(f"floor: FileBlobStore alone takes {floor * 1000:.0f} ms to store the same {len(paths)} files")
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
        print(f"machine: {os.cpu_count()} CPUs, load average {load} (timings vary with load)")


# (directory, files, mean bytes per file) of the issue-18 tree: 36,700 files, the dependency directories ~95% of it.
BIG_TREE = (
    ("src", 3_000, 4_000),
    ("node_modules", 30_000, 8_000),
    (".venv/lib/python3.12/site-packages", 2_500, 8_000),
    ("dist", 700, 20_000),
    ("src/__pycache__", 500, 4_000),
)


def generate_big(root: Path, seed: int = 18) -> tuple[int, int]:
    """The BIG_TREE layout, no .gitignore anywhere. Returns (files, bytes)."""
    rng = random.Random(seed)
    files = total = 0
    for top, count, mean in BIG_TREE:
        fan = max(1, count // 20)  # ~20 files per directory, like packages
        for i in range(count):
            d = root / top / f"pkg{i % fan:04d}"
            d.mkdir(parents=True, exist_ok=True)
            data = rng.randbytes(max(1, int(rng.expovariate(1 / mean))))
            (d / f"f{i:05d}.js").write_bytes(data)
            files += 1
            total += len(data)
    return files, total


async def run_big() -> None:
    with tempfile.TemporaryDirectory(prefix="dexa-bench-big-") as tmp:
        base = Path(tmp)
        root = base / "ws"
        root.mkdir()
        t0 = time.perf_counter()
        files, tree_bytes = generate_big(root)
        print(
            f"\nbig tree (issue 18): {files} files, {tree_bytes / 1e6:.1f} MB, no .gitignore "
            f"(generated in {time.perf_counter() - t0:.1f}s)"
        )
        store = SqliteStore(base / "dexa.db")
        blobs = FileBlobStore(base / "blobs")
        await store.create_session(Session(id="big", org_id="o", user_id="u", cwd=str(root), model="m"))
        workspace = HostDirWorkspace(str(root))
        warnings: list[dict[str, object]] = []

        async def emit(session_id: str, type_: str, data: object) -> None:
            if type_ == "warning" and isinstance(data, dict):
                warnings.append(data)

        async def workspace_for(session_id: str) -> HostDirWorkspace:
            return workspace

        service = CheckpointService(store, blobs, workspace_for, emit=emit)
        t = time.perf_counter()
        first = await service.checkpoint("big", reason="prompt", message_id=None)
        took = time.perf_counter() - t
        assert first is not None
        ckpt = await service.repo.get("big", first)
        share = ckpt.bytes_added / tree_bytes
        print(
            f"first checkpoint: {took * 1000:.0f} ms (target <= 3000 ms, {'ok' if took <= 3 else 'OVER TARGET'}); "
            f"{ckpt.files} files, stored {ckpt.bytes_added / 1e6:.1f} MB = {share:.1%} of the tree "
            f"(target <= 10%, {'ok' if share <= 0.10 else 'OVER TARGET'}); warnings: {len(warnings)}"
        )
        # gc: the session's checkpoints expire; their blobs are freed.
        service.clock = lambda: time.time() + 400 * 86400
        before = dir_bytes(base / "blobs")
        t = time.perf_counter()
        expired = await service.expire(30)
        swept = await service.sweep(grace_s=0)
        took = time.perf_counter() - t
        freed = expired["gc"]["freed_bytes"] + swept["freed_bytes"]
        print(
            f"gc after expiry: freed {freed / 1e6:.1f} MB of {before / 1e6:.1f} MB "
            f"({expired['gc']['deleted_blobs'] + swept['deleted_blobs']} blobs) in {took * 1000:.0f} ms; "
            f"left {dir_bytes(base / 'blobs') / 1e6:.2f} MB"
        )
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
        print(f"machine: {os.cpu_count()} CPUs, load average {load} (timings vary with load)")


def main() -> None:
    parser = argparse.ArgumentParser(description="Checkpoint benchmark (issues 6 and 18)")
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--mb", type=int, default=100)
    parser.add_argument("--changed", type=int, default=10)
    parser.add_argument("--only", choices=("incremental", "big"), default=None)
    args = parser.parse_args()
    if args.only != "big":
        asyncio.run(run(args.files, args.mb, args.changed))
    if args.only != "incremental":
        asyncio.run(run_big())


if __name__ == "__main__":
    main()
