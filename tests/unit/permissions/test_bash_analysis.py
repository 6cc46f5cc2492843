"""The shell parser front end: splitting, wrapper stripping, env prefixes, patterns and the parse cache."""

from __future__ import annotations

import pytest

from dexa.permissions.bash import BashPattern, parse_command


def _parts(command: str) -> list[str]:
    parsed = parse_command(command)
    assert parsed.ok, parsed.error
    return [s.core_text for s in parsed.subcommands]


@pytest.mark.parametrize(
    ("command", "parts"),
    [
        ("a && b || c; d | e", ["a", "b", "c", "d", "e"]),
        ("a |& b & c", ["a", "b", "c"]),
        ("a\nb\n\nc", ["a", "b", "c"]),
        ("(a; b) && { c; }", ["a", "b", "c"]),
        ("echo $(a) `b` <(c)", ["echo $(a) `b` <(c)", "a", "b", "c"]),
        ('git commit -m "x && y"', ['git commit -m "x && y"']),
        ("ls  -la    src", ["ls -la src"]),
    ],
)
def test_compound_commands_split_into_every_subcommand(command: str, parts: list[str]) -> None:
    assert sorted(_parts(command)) == sorted(parts)


@pytest.mark.parametrize(
    ("command", "core"),
    [
        ("timeout 30 npm test", "npm test"),
        ("timeout --signal=KILL -k 5 30 npm test", "npm test"),
        ("nice -n 5 npm test", "npm test"),
        ("nice -10 npm test", "npm test"),
        ("nohup npm test", "npm test"),
        ("time -p npm test", "npm test"),
        ("stdbuf -o L -eL npm test", "npm test"),
        ("command -p npm test", "npm test"),
        ("builtin echo x", "echo x"),
        ("noglob npm test", "npm test"),
        ("xargs npm test", "npm test"),
        ("timeout 5 nice nohup npm test", "npm test"),
        ("command -v npm", "command -v npm"),
        ("xargs -n1 npm test", "xargs -n1 npm test"),
        ("nocorrect npm test", "nocorrect npm test"),
        ("npx jest", "npx jest"),
    ],
)
def test_wrappers_are_stripped_as_claude_code_lists_them(command: str, core: str) -> None:
    (sub,) = parse_command(command).subcommands
    assert sub.core_text == core


def test_allow_text_keeps_unknown_env_assignments_but_drops_safe_ones() -> None:
    safe = parse_command("NODE_ENV=test LANG=C npm test").subcommands[0]
    unsafe = parse_command("FOO=1 npm test").subcommands[0]
    assert safe.allow_text() == "npm test"
    assert unsafe.allow_text() == "FOO=1 npm test"
    assert "npm test" in unsafe.deny_texts()


def test_redirect_targets_are_recorded_as_writes_and_not_matched_as_text() -> None:
    sub = parse_command("npm test > out.log 2>&1").subcommands[0]
    assert sub.core_text == "npm test"
    writes = [r.target.value for r in sub.redirects if r.writes and r.target is not None]
    assert writes == ["out.log"]


@pytest.mark.parametrize(
    ("pattern", "command", "matches"),
    [
        ("npm run test", "npm run test", True),
        ("npm run test", "npm run test --x", False),
        ("npm run test *", "npm run test", True),
        ("npm run test *", "npm run testing", False),
        ("npm run test:*", "npm run test --x", True),
        ("git:* push", "git push", False),
        ("git:* push", "git:x push", True),
        ("ls*", "lsof", True),
        ("* --help *", "npm --help", False),
        ("a * b", "a x y b", True),
    ],
)
def test_bash_pattern_semantics(pattern: str, command: str, matches: bool) -> None:
    assert BashPattern(pattern).matches(command) is matches


def test_parses_are_cached_so_repeat_decisions_skip_the_parser() -> None:
    parse_command.cache_clear()
    first = parse_command("git status && npm test")
    second = parse_command("git status && npm test")
    assert first is second
    assert parse_command.cache_info().hits == 1


@pytest.mark.parametrize("command", ["", "   ", "echo 'open", "echo $((1+2))", "x" * 10_001])
def test_unparsable_or_empty_commands_report_an_error_instead_of_raising(command: str) -> None:
    parsed = parse_command(command)
    assert not parsed.ok
    assert parsed.error


def test_control_flow_is_marked_opaque_but_inner_commands_are_still_found() -> None:
    parsed = parse_command("for f in a b; do rm $f; done")
    assert parsed.opaque
    assert [s.program for s in parsed.subcommands] == ["rm"]


@pytest.mark.parametrize(
    ("word", "brace"),
    [("{a,b}", True), ("x{1..3}", True), ('{"a",b}', True), ("'{a,b}'", False), ("@{u}", False), ("{}", False)],
)
def test_brace_expansion_is_flagged_because_one_word_becomes_several(word: str, brace: bool) -> None:
    (arg,) = parse_command(f"cat {word}").subcommands[0].args
    assert arg.brace is brace
    assert arg.unknowable is brace


def test_the_time_keyword_is_remembered_as_a_wrapper() -> None:
    timed, plain = parse_command("time cat a; cat b").subcommands
    assert (timed.program, timed.timed, timed.wrapped) == ("cat", True, True)
    assert (plain.timed, plain.wrapped) == (False, False)
    assert parse_command("nice cat a").subcommands[0].wrapped


def test_here_document_that_expands_substitutions_is_opaque() -> None:
    expanding = parse_command("cat <<EOF\n$(touch x)\nEOF")
    assert expanding.opaque and "here-document" in expanding.opaque_reason
    assert not parse_command("cat <<EOF\nplain\nEOF").opaque
    assert not parse_command("cat <<\\EOF\n$(literal)\nEOF").opaque  # a quoted delimiter expands nothing


def test_read_write_redirect_counts_as_a_write() -> None:
    (redirect,) = parse_command("cat <> new.txt").subcommands[0].redirects
    assert redirect.writes
