"""`dexa demo follow-ups`: offline, staged, nothing sent; approving one sends exactly that one."""

from __future__ import annotations

import io
import sqlite3
from pathlib import Path

from rich.console import Console

from dexa.cli.business_demo import run_business_demo


def _console() -> tuple[Console, io.StringIO]:
    buffer = io.StringIO()
    return Console(file=buffer, width=200, color_system=None), buffer


def test_the_follow_up_demo_stages_everything_and_sends_nothing(tmp_path: Path) -> None:
    console, buffer = _console()
    assert run_business_demo(console=console, home=tmp_path) == 0
    out = buffer.getvalue()
    assert "3 customer meeting(s) have no follow-up yet" in out
    assert "Globex — renewal negotiation" not in out.split("have no follow-up yet:")[1].split("\n")[0]
    assert out.count(" email email: Follow-up:") == 3 and out.count(" calendar_invite ") == 3
    assert out.count(" crm_update ") == 3
    assert "Outbox: 0 sent email(s); 0 calendar invitation(s)" in out and "Nothing was sent" in out
    db = sqlite3.connect(tmp_path / "demo-company.db")
    assert db.execute("SELECT count(*) FROM drafts").fetchone()[0] == 3  # drafts exist; nothing in the outbox
    assert db.execute("SELECT count(*) FROM outbox").fetchone()[0] == 0


def test_approving_one_output_sends_exactly_that_email(tmp_path: Path) -> None:
    console, buffer = _console()
    assert run_business_demo(console=console, home=tmp_path, approve_one=True) == 0
    assert "outbox now holds 1 email(s)" in buffer.getvalue()
    db = sqlite3.connect(tmp_path / "demo-company.db")
    assert db.execute("SELECT count(*) FROM outbox").fetchone()[0] == 1


def test_the_demo_is_a_cli_command() -> None:
    import typer
    from typer.testing import CliRunner

    from dexa.cli.business_demo import register

    app = typer.Typer()
    register(app)

    @app.command("noop")
    def noop() -> None:  # a second command keeps typer from collapsing the app into one command
        return None

    result = CliRunner().invoke(app, ["business-demo"])
    assert result.exit_code == 0, result.output
    assert "Nothing was sent" in result.output
