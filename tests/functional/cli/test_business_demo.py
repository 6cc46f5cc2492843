"""`dexa business-demo` through the real loop, and `dexa outputs` on what it staged: run as a user runs them.

Each command is its own `dexa` process over one DEXA_HOME, so the demo company and the review queue must persist
between them; the last test approves through a `dexa serve` started afterwards (a restart, as far as state goes).
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

ENV_DROP = ("ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "ANTHROPIC_AUTH_TOKEN", "DEXA_SERVER", "DEXA_BENCH_FAKE_ENV")


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ENV_DROP}
    return env | {"DEXA_HOME": str(home / "dexa"), "HOME": str(home), "COLUMNS": "200"}


def dexa(home: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "dexa.cli", *args], env=_env(home), cwd=home, capture_output=True, text=True, timeout=180
    )
    if check:
        assert done.returncode == 0, f"dexa {' '.join(args)}: {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done


def outputs(home: Path, *args: str) -> list[dict[str, Any]]:
    return json.loads(dexa(home, "outputs", "list", "--json", *args).stdout)


def company(home: Path) -> sqlite3.Connection:
    db = sqlite3.connect(home / "dexa" / "state" / "demo-company.db")
    db.row_factory = sqlite3.Row
    return db


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    home = tmp_path_factory.mktemp("biz")
    done = dexa(home, "business-demo")
    yield home, done.stdout


def _by_kind(rows: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [r for r in rows if r["kind"] == kind]


def test_the_demo_stages_every_follow_up_and_sends_nothing(demo: tuple[Path, str]) -> None:
    home, out = demo
    assert "loopback Messages API" in out and "Nothing left the building" in out
    rows = outputs(home)
    assert len(_by_kind(rows, "email")) == 3 and len(_by_kind(rows, "calendar_invite")) == 3
    assert len(_by_kind(rows, "crm_update")) == 3
    db = company(home)
    assert db.execute("SELECT count(*) FROM outbox").fetchone()[0] == 0
    assert db.execute("SELECT count(*) FROM invitations").fetchone()[0] == 0
    assert (
        db.execute("SELECT count(*) FROM events WHERE summary LIKE '%follow-up' AND id != 'ev_globex_fu'").fetchone()[0]
        == 0
    )
    # The printed next steps name real commands and the real route.
    assert "dexa outputs approve out_" in out and "/pending-outputs/out_" in out and "/ui/review" in out


def test_the_drafts_are_right_on_sender_attendees_dates_and_threads(demo: tuple[Path, str]) -> None:
    home, _ = demo
    db = company(home)
    week = date.fromisoformat(db.execute("SELECT value FROM meta WHERE key='seeded'").fetchone()[0])
    drafts = {json.loads(r["recipients"])[0]: r for r in db.execute("SELECT * FROM drafts")}
    initech = drafts["bill@initech.example"]
    assert initech["thread_id"] == "th_initech" and initech["subject"] == "Re: Pilot logistics"
    assert initech["body"].rstrip().endswith("Maya Chen")  # the mailbox owner, from get_profile
    assert "invitation for it separately" in initech["body"] and "I've sent" not in initech["body"]
    assert drafts["ana.silva@acme.example"]["thread_id"] == "th_acme"
    invites = {r["arguments"]["summary"]: r["arguments"] for r in _by_kind(outputs(home), "calendar_invite")}
    pilot = invites["Initech — follow-up"]
    # "check in in two weeks" after Wednesday's kickoff: two weeks later, in Chicago's working hours.
    two_weeks = (week + timedelta(days=2 + 14)).isoformat()
    assert pilot["start"].startswith(two_weeks) and pilot["start"].endswith("-06:00")
    assert "sam@northwind.example" in pilot["attendees"]  # the account owner is invited
    assert "09:00" not in pilot["start"]  # Sam is busy at Chicago's 9:00: the slot comes from free/busy
    acme = invites["Acme — follow-up"]
    assert acme["start"][:10] > (week + timedelta(days=7)).isoformat()  # next Monday is booked solid
    assert acme["start"].endswith("-05:00")


def test_the_scripted_agent_writes_from_what_the_tools_return(demo: tuple[Path, str], tmp_path: Path) -> None:
    home, _ = demo
    other = tmp_path / "other"
    (other / "dexa" / "state").mkdir(parents=True)
    src, dst = company(home), sqlite3.connect(other / "dexa" / "state" / "demo-company.db")
    src.backup(dst)
    # Leo's mailbox, and Initech's owner is now Priya: the drafts and invites follow the data.
    dst.execute("UPDATE meta SET value='leo@northwind.example' WHERE key='user'")
    dst.execute("UPDATE contacts SET owner='priya@northwind.example' WHERE id='c_initech'")
    dst.execute("DELETE FROM drafts")
    dst.commit()
    dexa(other, "business-demo", "--keep-company")
    bodies = [r[0] for r in dst.execute("SELECT body FROM drafts")]
    assert bodies and all(b.rstrip().endswith("Leo Park") for b in bodies)
    pilot = next(r for r in _by_kind(outputs(other), "calendar_invite") if r["arguments"]["summary"].startswith("Init"))
    assert "priya@northwind.example" in pilot["arguments"]["attendees"]
    assert "sam@northwind.example" not in pilot["arguments"]["attendees"]


def test_outputs_cli_shows_approves_once_and_rejects(demo: tuple[Path, str]) -> None:
    home, _ = demo
    rows = outputs(home)
    email = next(r for r in rows if r["kind"] == "email" and "acme" in json.dumps(r["context"]))
    shown = dexa(home, "outputs", "show", email["id"]).stdout
    assert "Subject: Re: Pricing for 50 seats" in shown and "draft_id" in shown
    assert "executed" in dexa(home, "outputs", "approve", email["id"]).stdout
    again = dexa(home, "outputs", "approve", email["id"], check=False)
    assert again.returncode == 2 and "already" in again.stderr
    sent = company(home).execute("SELECT recipients, thread_id FROM outbox").fetchall()
    assert [tuple(r) for r in sent] == [('["ana.silva@acme.example"]', "th_acme")]
    invite = _by_kind(rows, "calendar_invite")[0]
    rejected = json.loads(dexa(home, "outputs", "reject", invite["id"], "--reason", "wrong week", "--json").stdout)
    assert rejected[0]["status"] == "rejected" and rejected[0]["error"] == "wrong week"
    assert company(home).execute("SELECT count(*) FROM invitations").fetchone()[0] == 0


def test_a_server_started_later_executes_against_the_same_company(demo: tuple[Path, str]) -> None:
    home, _ = demo
    proc = subprocess.Popen(
        [sys.executable, "-m", "dexa.cli", "serve", "--port", "0"],
        env=_env(home),
        cwd=home,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().split("listening on ")[1].split()[0]
        remote = json.loads(dexa(home, "outputs", "list", "--json", "--server", url).stdout)
        assert {r["id"] for r in remote} == {r["id"] for r in outputs(home)}
        invite = _by_kind(remote, "calendar_invite")[0]
        done = json.loads(dexa(home, "outputs", "approve", invite["id"], "--json", "--server", url).stdout)
        assert done[0]["status"] == "executed", done
        attendees = set(invite["arguments"]["attendees"])
        got = company(home).execute("SELECT attendee FROM invitations").fetchall()
        assert {r[0] for r in got} == attendees
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def test_outputs_cli_names_the_problem_with_bad_input() -> None:
    from typer.testing import CliRunner

    from dexa.cli.outputs_cmd import app

    runner = CliRunner()
    bad_status = runner.invoke(app, ["list", "--status", "sent"])
    assert bad_status.exit_code == 2 and "--status must be one of" in bad_status.output
    missing = runner.invoke(app, ["approve", "out_nope"])
    assert missing.exit_code == 2 and "no output out_nope" in missing.output
    bad_json = runner.invoke(app, ["approve", "out_nope", "--arguments", "{not json"])
    assert bad_json.exit_code == 2 and "--arguments is not valid JSON" in bad_json.output


def test_running_the_demo_again_retires_what_the_last_run_left_pending(demo: tuple[Path, str]) -> None:
    home, _ = demo
    earlier = {r["id"] for r in outputs(home)}
    assert earlier
    dexa(home, "business-demo")
    rejected = {r["id"]: r for r in outputs(home, "--status", "rejected")}
    assert earlier <= set(rejected) and all("re-seeded" in rejected[i]["error"] for i in earlier)
    fresh = outputs(home)
    assert len(fresh) == 9 and not earlier & {r["id"] for r in fresh}


def test_the_demo_refuses_an_unknown_mailbox_owner() -> None:
    import typer
    from typer.testing import CliRunner

    from dexa.cli.business_demo import register

    app = typer.Typer()
    register(app)

    @app.command("noop")
    def noop() -> None:  # a second command keeps typer from collapsing the app into one command
        return None

    done = CliRunner().invoke(app, ["business-demo", "--as", "bob"])
    assert done.exit_code == 2 and "--as must be one of maya, leo, priya, sam" in done.output
