"""The read-only table's option matching: abbreviations, clusters, glued values, operands and unknowable words."""

from __future__ import annotations

import pytest

from dexa.permissions.bash import parse_command
from dexa.permissions.readonly import READ_ONLY, refusal


def _refusal(command: str) -> str | None:
    # The outer command; a substitution's own command is a separate subcommand.
    sub = next(s for s in parse_command(command).subcommands if not s.nested)
    return refusal(sub)


@pytest.mark.parametrize(
    "command",
    [
        "sort --compress-program=sh a",
        "sort --compress-p=sh a",  # GNU getopt accepts any unambiguous prefix
        "sort --co sh a",
        "sort -ro out a",  # a cluster
        "sort -oout a",  # a glued value
        "sort a -o out",  # options after operands (getopt permutes)
        "sort 'a' \"--output\"=x",
        "git diff --ext",
        "git grep -nO x",
        "rg -iz x",
        "date --se=2020",
        "xxd -rp a",
        "uniq a b",
        "hostname x",
        "env true",
        "test -v x",
    ],
)
def test_dangerous_spellings_are_refused(command: str) -> None:
    assert _refusal(command), command


@pytest.mark.parametrize(
    "command",
    [
        "sort -S 1M -k2 -t, a",
        "sort --check a",
        "git diff --output-indicator-new=+",  # not a prefix of --output
        "git diff --no-ext-diff",
        "git status -uno",
        "uniq -f 1 a",  # -f takes a value: one operand only
        "xxd -l 64 a",
        "date -d yesterday",
        "printf '%s' \"$HOME\"",  # printf reads options only before its format
        "test -f a",
    ],
)
def test_harmless_spellings_stay_read_only(command: str) -> None:
    assert _refusal(command) is None, command


@pytest.mark.parametrize("command", ["sort *", "sort {a,b}", "sort $(cat opts)", "git log $X", "printf $X a"])
def test_words_the_source_cannot_show_ask_for_programs_with_dangerous_options(command: str) -> None:
    assert _refusal(command)


def test_programs_without_dangerous_options_accept_globs() -> None:
    assert READ_ONLY["wc"] is None
    assert _refusal("wc -l src/*.py") is None


def test_refusals_name_the_cause() -> None:
    assert "compress-program" in (_refusal("sort --compress-program=sh a") or "")
    assert "LESSOPEN" in (_refusal("LESSOPEN=x cat a") or "")
    assert "wrapper" in (_refusal("timeout 5 cat a") or "")
    assert _refusal("curl x") == ""  # outside the set: no special cause
