"""The headless fast path's argv parser (dexa.cli.run_argv) gives the `run` command exactly the values typer would,
and hands every invocation it is not sure about to typer. Typer is the reference: each case is parsed both ways,
typer through the real `dexa` app with the command body replaced by a recorder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from dexa.cli.main import expand_variadic
from dexa.cli.run_argv import parse_run_argv

SAME = [
    ["run", "-p", "hi"],
    ["-p", "hi", "--output-format", "json"],
    ["--output-format", "stream-json", "--verbose", "-p", "go"],
    ["run", "go", "-p", "--model=sonnet", "--max-turns", "3", "--max-budget-usd", "0.5"],
    ["-p", "x", "--allowedTools", "Bash(git *)", "Read", "--disallowedTools=Write"],
    ["-p", "x", "--allowed-tools", "Bash", "--allowedTools", "Read", "--add-dir", "a", "b"],
    ["-p", "-", "--cwd", "/tmp", "--system-prompt", "--verbose"],  # a value may start with a dash
    ["-p", "x", "-r", "abc", "-c", "--fork-session", "--session-id", "6f1c"],
    ["-p", "x", "--append-system-prompt", "", "--tools", "Bash,Read", "--permission-mode", "plan"],
    ["-p", "x", "--network", "--dangerously-run-unsandboxed", "--no-attach", "--include-hook-events"],
    ["-p", "x", "--mcp-config", "{}", "--strict-mcp-config", "--settings", "s.json", "--setting-sources", "user"],
    ["-p", "x", "--input-format", "stream-json", "--include-partial-messages", "--replay-user-messages"],
    ["-p", "x", "--permission-prompt-tool", "stdio", "--fallback-model", "haiku", "--server", "http://h:1"],
    ["-p", "x", "--system-prompt-file", "p.txt", "--append-system-prompt-file", "q.txt", "--agents", "{}"],
    ["run"],
]
TO_TYPER = [
    ["--help"],
    ["run", "--help"],
    ["-p", "x", "--help"],
    ["-p", "x", "--max-turns", "many"],  # click's own error message
    ["-p", "x", "--unknown-flag"],
    ["-pc", "x"],  # combined short flags
    ["-p", "x", "y"],  # a second positional
    ["-p", "x", "--", "-y"],
    ["-p", "x", "--model"],  # a value missing
    ["-p", "--verbose=yes", "x"],
    ["sessions"],
    ["a prompt"],  # a bare word: a command or a prompt, typer's routing decides
    [],
]


def _typer_values(argv: list[str], monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    from dexa.cli import run_cmd
    from dexa.cli.app import app
    from dexa.cli.flags import top_level_argv

    seen: dict[str, Any] = {}

    def record(values: dict[str, Any]) -> int:
        seen.update(values)
        return 0

    monkeypatch.setattr(run_cmd, "run_command", record)
    result = CliRunner().invoke(app, top_level_argv(argv, {"run", "sessions", "demo"}))
    assert result.exit_code == 0, result.output
    return seen


@pytest.mark.parametrize("argv", SAME, ids=lambda a: " ".join(a)[:60])
def test_the_fast_parser_passes_what_typer_passes(argv: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    argv = expand_variadic(argv)
    fast = parse_run_argv(argv)
    assert fast is not None, argv
    assert fast == _typer_values(argv, monkeypatch)


@pytest.mark.parametrize("argv", TO_TYPER, ids=lambda a: " ".join(a)[:60] or "(none)")
def test_what_the_fast_parser_is_not_sure_about_goes_to_typer(argv: list[str]) -> None:
    assert parse_run_argv(expand_variadic(argv)) is None


def test_paths_and_numbers_are_converted_as_typer_does() -> None:
    values = parse_run_argv(["-p", "x", "--cwd", "w", "--max-turns", "4", "--max-budget-usd", "1.5"])
    assert values is not None
    assert values["cwd"] == Path("w") and values["max_turns"] == 4 and values["max_budget_usd"] == 1.5
