"""`dexa rewind` over the real runtime (SQLite store, file blobs) and the REPL's `/rewind` flow."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import typer
from rich.console import Console
from typer.testing import CliRunner

from dexa.cli import rewind_cmd
from dexa.cli.rewind_cmd import rewind_interactive, service_for_runtime
from dexa.settings import get_settings
from dexa.wiring import build_runtime

# Mounted the way dexa.cli.main mounts feature sub-commands: `dexa rewind ...`.
app = typer.Typer()
app.add_typer(rewind_cmd.app, name="rewind")


@app.command()
def version() -> None:  # a second command, so `rewind` stays a sub-command as in the real CLI
    """Print nothing."""


def _session_with_checkpoints(ws: Path) -> str:
    get_settings.cache_clear()

    async def main() -> str:
        runtime = build_runtime(get_settings())
        try:
            script = ws.parent / "script.json"
            script.write_text('{"turns": [{"text": "ok"}]}')
            session = await runtime.create_session(cwd=str(ws), model=f"scripted:{script}")
            service = service_for_runtime(runtime)
            (ws / "a.txt").write_text("one\n")
            await service.checkpoint(session.id, reason="prompt", message_id=None)
            (ws / "a.txt").write_text("two\n")
            (ws / "b.txt").write_text("created later\n")
            await service.checkpoint(session.id, reason="turn_end", message_id=None)
            return session.id
        finally:
            await runtime.aclose()

    return asyncio.run(main())


def test_cli_lists_checkpoints_and_rewinds_code(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    sid = _session_with_checkpoints(ws)
    runner = CliRunner()

    listed = runner.invoke(app, ["rewind", sid, "--list", "--json"])
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.output)
    assert [r["id"] for r in rows] == ["ckpt_0002", "ckpt_0001"]

    table = runner.invoke(app, ["rewind", sid])
    assert table.exit_code == 0 and "ckpt_0001" in table.output and "prompt" in table.output

    done = runner.invoke(app, ["rewind", sid, "--to", "1", "--code"])
    assert done.exit_code == 0, done.output
    assert "Rewound code to ckpt_0001" in done.output and "deleted: b.txt" in done.output
    assert (ws / "a.txt").read_text() == "one\n" and not (ws / "b.txt").exists()


def test_cli_reports_conflicts_with_exit_code_1_and_keep_copy_resolves_them(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    sid = _session_with_checkpoints(ws)
    (ws / "a.txt").write_text("edited by hand\n")
    runner = CliRunner()
    asked = runner.invoke(app, ["rewind", sid, "--to", "ckpt_0001", "--code"])
    assert asked.exit_code == 1 and "a.txt" in asked.output and "keep-copy" in asked.output
    assert (ws / "a.txt").read_text() == "edited by hand\n"

    kept = runner.invoke(app, ["rewind", sid, "--to", "1", "--code", "--on-conflict", "keep-copy", "--json"])
    assert kept.exit_code == 0, kept.output
    report = json.loads(kept.output)
    assert report["kept_copies"][0]["path"] == "a.txt"
    assert (ws / report["kept_copies"][0]["copy"]).read_text() == "edited by hand\n"


def test_cli_errors_are_clear(tmp_path: Path) -> None:
    get_settings.cache_clear()
    runner = CliRunner()
    missing = runner.invoke(app, ["rewind", "ses_nope", "--list"])
    assert missing.exit_code == 2 and "ses_nope" in missing.output
    ws = tmp_path / "ws"
    ws.mkdir()
    sid = _session_with_checkpoints(ws)
    both = runner.invoke(app, ["rewind", sid, "--to", "1", "--code", "--conversation"])
    assert both.exit_code != 0 and "choose one of" in both.output


def test_interactive_rewind_lists_asks_and_resolves_conflicts(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    sid = _session_with_checkpoints(ws)
    (ws / "b.txt").write_text("edited by hand\n")
    answers = iter(["1", "c", "k"])
    prompts: list[str] = []

    async def ask(prompt: str) -> str:
        prompts.append(prompt)
        return next(answers)

    async def main() -> dict[str, object] | None:
        runtime = build_runtime(get_settings())
        try:
            with (tmp_path / "out.txt").open("w") as fh:
                return await rewind_interactive(service_for_runtime(runtime), sid, ask=ask, console=Console(file=fh))
        finally:
            await runtime.aclose()

    report = asyncio.run(main())
    assert report is not None and report["status"] == "ok" and report["mode"] == "code"
    assert len(prompts) == 3 and "eep a copy" in prompts[2]
    assert not (ws / "b.txt").exists() and (ws / "a.txt").read_text() == "one\n"
    assert "ckpt_0002" in (tmp_path / "out.txt").read_text()
