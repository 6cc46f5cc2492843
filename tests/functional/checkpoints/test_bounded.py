"""Checkpoints stay bounded on big trees: dependency directories are skipped without a .gitignore, the caps are
reported as warning events, store size is visible per session, and `dexa checkpoints gc` reclaims unreferenced blobs
while every remaining checkpoint still rewinds."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest
import typer
from ckpt_rig import make_rig, tree
from typer.testing import CliRunner

from dexa.cli import checkpoints_cmd
from dexa.cli.rewind_cmd import service_for_runtime
from dexa.core.events import EventType
from dexa.settings import get_settings
from dexa.wiring import build_runtime


def _deps(root: Path) -> None:
    for name in ("node_modules/left-pad", ".venv/lib", "target/debug", "src/__pycache__", "web/dist"):
        d = root / name
        d.mkdir(parents=True)
        (d / "big.bin").write_bytes(b"x" * 4096)


def test_dependency_dirs_are_skipped_without_a_gitignore(tmp_path: Path) -> None:
    rig = make_rig(tmp_path, sandbox=False)
    (rig.root / "src").mkdir()
    (rig.root / "src" / "main.py").write_text("print(1)\n")
    (rig.root / "README.md").write_text("hi\n")
    _deps(rig.root)
    assert not (rig.root / ".gitignore").exists()
    cid = rig.run(rig.service.checkpoint("s1", reason="prompt", message_id=None))
    state = rig.run(rig.service.repo.state(rig.run(rig.service.repo.get("s1", cid))))
    assert sorted(state.files) == ["README.md", "src/main.py"]
    # Skipped like .gitignore'd paths, not as cap overflow: nothing to warn about.
    assert state.skipped == []
    assert rig.events(EventType.WARNING) == []


def test_workspace_cap_emits_a_warning_naming_the_files(tmp_path: Path) -> None:
    rig = make_rig(tmp_path, sandbox=False, max_workspace_bytes=10_000, max_file_bytes=6_000)
    (rig.root / "a.txt").write_bytes(b"a" * 5_000)
    (rig.root / "b.txt").write_bytes(b"b" * 5_500)  # a + b > workspace cap
    (rig.root / "huge.bin").write_bytes(b"h" * 7_000)  # over the per-file cap
    rig.run(rig.service.checkpoint("s1", reason="prompt", message_id=None))
    warnings = rig.events(EventType.WARNING)
    assert len(warnings) == 1, warnings
    w = warnings[0]
    assert w["code"] == "checkpoint_capped"
    assert "b.txt" in w["message"] and "huge.bin" in w["message"] and "workspace cap" in w["message"]
    assert {(s["path"], s["reason"]) for s in w["skipped"]} == {("b.txt", "workspace_cap"), ("huge.bin", "file_cap")}
    # The same skips at the next checkpoint are not repeated as a new warning.
    (rig.root / "a.txt").write_bytes(b"A" * 5_000)
    rig.run(rig.service.checkpoint("s1", reason="prompt", message_id=None))
    assert len(rig.events(EventType.WARNING)) == 1


def _blob_files(blobs: Path) -> set[str]:
    return {p.parent.name + p.name for p in blobs.glob("??/*")}


def _age_all(blobs: Path) -> None:
    for p in blobs.glob("??/*"):
        os.utime(p, (1, 1))


def test_gc_frees_unreferenced_blobs_and_rewind_still_works(tmp_path: Path) -> None:
    get_settings.cache_clear()
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "a.txt").write_text("one\n")

    async def setup() -> tuple[str, str, str]:
        runtime = build_runtime(get_settings())
        try:
            script = tmp_path / "script.json"
            script.write_text('{"turns": [{"text": "ok"}]}')
            session = await runtime.create_session(cwd=str(ws), model=f"scripted:{script}")
            service = service_for_runtime(runtime)
            first = await service.checkpoint(session.id, reason="prompt", message_id=None)
            (ws / "a.txt").write_text("two\n")
            await service.checkpoint(session.id, reason="turn_end", message_id=None)
            assert first is not None
            # An orphan: content an interrupted run stored without a checkpoint referencing it.
            orphan = await runtime.blobs.put_blob(b"left behind by a killed run\n" * 1000)
            return session.id, first, orphan
        finally:
            await runtime.aclose()

    sid, first, orphan = asyncio.run(setup())
    blobs = Path(get_settings().blob_dir)
    before = _blob_files(blobs)
    assert orphan in before
    _age_all(blobs)

    from dexa.cli.main import _mount_optional
    from dexa.cli.main import app as main_app

    _mount_optional(["checkpoints"])
    runner = CliRunner()
    listed = runner.invoke(main_app, ["sessions", "--json"])
    assert listed.exit_code == 0, listed.output
    row = next(r for r in json.loads(listed.output) if r["id"] == sid)
    assert row["checkpoint_bytes"] > 0

    result = runner.invoke(main_app, ["checkpoints", "gc"])
    assert result.exit_code == 0, result.output
    assert "freed 27.3 KiB (1 blobs" in result.output, result.output
    after = _blob_files(blobs)
    assert before - after == {orphan}

    # Nothing a checkpoint references went: rewinding to the first one restores its content.
    async def rewind() -> None:
        runtime = build_runtime(get_settings())
        try:
            await service_for_runtime(runtime).rewind(sid, checkpoint_id=first, mode="code", on_conflict="overwrite")
        finally:
            await runtime.aclose()

    asyncio.run(rewind())
    assert tree(ws) == {"a.txt": b"one\n"}


def test_gc_json_and_cleanup_period_days_from_user_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "claude"
    cfg.mkdir()
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(cfg))
    (cfg / "settings.json").write_text('{"cleanupPeriodDays": 7}')
    assert checkpoints_cmd.cleanup_period_days() == 7.0
    (cfg / "settings.json").write_text('{"cleanupPeriodDays": 0}')
    app = typer.Typer()
    app.add_typer(checkpoints_cmd.app, name="checkpoints")

    @app.command()
    def version() -> None:
        """Print nothing."""

    bad = CliRunner().invoke(app, ["checkpoints", "gc"])
    assert bad.exit_code == 2 and "cleanupPeriodDays must be an integer >= 1" in bad.output
    (cfg / "settings.json").write_text("{}")
    get_settings.cache_clear()
    ok = CliRunner().invoke(app, ["checkpoints", "gc", "--json"])
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.output)["older_than_days"] == 30.0
