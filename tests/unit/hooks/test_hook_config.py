"""Hook configuration: Claude Code's shape, matcher semantics, validation and de-duplication (reference §3.1)."""

from __future__ import annotations

import pytest

from dexa.config.hooks import HooksConfig, compile_matcher, parse_hooks


def _config(raw: dict, source: str = "/p/.claude/settings.json", scope: str = "project") -> HooksConfig:
    groups, problems = parse_hooks(raw, source=source, scope=scope)
    assert problems == []
    return HooksConfig(tuple(groups))


def _cmd(command: str, **extra: object) -> dict:
    return {"type": "command", "command": command, **extra}


@pytest.mark.parametrize(
    ("matcher", "target", "expected"),
    [
        ("Bash", "Bash", True),
        ("Bash", "BashOutput", False),
        ("Edit|Write", "Write", True),
        ("Edit | Write", "Write", True),
        ("Edit,Write", "Edit", True),
        ("Edit.*", "NotebookEdit", True),
        ("^Edit$", "NotebookEdit", False),
        ("mcp__memory__.*", "mcp__memory__save", True),
        ("mcp__memory", "mcp__memory__save", False),
        ("*", "Anything", True),
        ("", "Anything", True),
        (None, "Anything", True),
        ("my-tool", "my-tool", True),
    ],
    ids=[
        "exact",
        "exact-is-not-prefix",
        "pipe-list",
        "pipe-list-with-spaces",
        "comma-list",
        "docs-regex-is-unanchored",
        "docs-anchored-regex",
        "docs-mcp-needs-dot-star",
        "docs-mcp-server-name-is-exact",
        "star",
        "empty",
        "omitted",
        "hyphen-is-exact",
    ],
)
def test_matcher_semantics(matcher: str | None, target: str, expected: bool) -> None:
    group: dict = {"hooks": [_cmd("x")]}
    if matcher is not None:
        group["matcher"] = matcher
    config = _config({"PreToolUse": [group]})
    assert bool(config.handlers_for("PreToolUse", target)) is expected


def test_matcher_is_ignored_on_events_without_matchers() -> None:
    config = _config({"Stop": [{"matcher": "Nope", "hooks": [_cmd("stop.sh")]}]})
    assert [h.command for h in config.handlers_for("Stop", None)] == ["stop.sh"]


def test_identical_handlers_from_several_files_are_kept_once() -> None:
    raw = {"PreToolUse": [{"matcher": "Bash", "hooks": [_cmd("a.sh"), _cmd("b.sh")]}]}
    user, _ = parse_hooks(raw, source="/home/.claude/settings.json", scope="user")
    project, _ = parse_hooks(raw, source="/p/.claude/settings.json", scope="project")
    config = HooksConfig(tuple(user + project))
    assert [h.command for h in config.handlers_for("PreToolUse", "Bash")] == ["a.sh", "b.sh"]


def test_handler_fields_are_parsed() -> None:
    config = _config(
        {
            "PreToolUse": [
                {
                    "matcher": "Bash",
                    "hooks": [
                        _cmd(
                            "check.py",
                            args=["--strict"],
                            timeout=5,
                            **{"if": "Bash(git *)", "statusMessage": "checking"},
                        ),
                        {
                            "type": "http",
                            "url": "https://policy.example/hook",
                            "headers": {"Authorization": "Bearer $TOKEN"},
                            "allowedEnvVars": ["TOKEN"],
                            "timeout": 2,
                        },
                    ],
                }
            ]
        }
    )
    command, http = config.handlers_for("PreToolUse", "Bash")
    assert (command.args, command.timeout, command.if_rule, command.status_message) == (
        ("--strict",),
        5.0,
        "Bash(git *)",
        "checking",
    )
    assert (http.type, http.url, http.headers, http.allowed_env_vars) == (
        "http",
        "https://policy.example/hook",
        (("Authorization", "Bearer $TOKEN"),),
        ("TOKEN",),
    )


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ([], "hooks"),
        ({"PreToolUse": {}}, "hooks.PreToolUse"),
        ({"PreToolUse": ["x"]}, "hooks.PreToolUse[0]"),
        ({"PreToolUse": [{"hooks": "x"}]}, "hooks.PreToolUse[0].hooks"),
        ({"PreToolUse": [{"matcher": 3, "hooks": []}]}, "hooks.PreToolUse[0].matcher"),
        ({"PreToolUse": [{"matcher": "(", "hooks": [_cmd("x")]}]}, "hooks.PreToolUse[0].matcher"),
        ({"PreToolUse": [{"hooks": [{"type": "command"}]}]}, "hooks.PreToolUse[0].hooks[0].command"),
        ({"PreToolUse": [{"hooks": [_cmd("x", timeout=-1)]}]}, "hooks.PreToolUse[0].hooks[0].timeout"),
        ({"PreToolUse": [{"hooks": [{"type": "prompt", "prompt": "?"}]}]}, "hooks.PreToolUse[0].hooks[0].type"),
        ({"PreToolUse": [{"hooks": [{"type": "http", "url": "ftp://x"}]}]}, "hooks.PreToolUse[0].hooks[0].url"),
        ({"OnCoffee": [{"hooks": [_cmd("x")]}]}, "hooks.OnCoffee"),
    ],
)
def test_malformed_hook_entries_are_reported_by_key(raw: object, key: str) -> None:
    _groups, problems = parse_hooks(raw, source="/p/s.json", scope="project")
    assert key in {p.key for p in problems}
    assert all(p.file == "/p/s.json" for p in problems)


def test_claude_code_events_dexa_does_not_fire_load_quietly() -> None:
    groups, problems = parse_hooks({"PostToolUseFailure": [{"hooks": [_cmd("x")]}]}, source="s", scope="user")
    assert groups == [] and problems == []


def test_compile_matcher_returns_names_or_regex() -> None:
    assert compile_matcher("A|B")[0] == frozenset({"A", "B"})
    assert compile_matcher("A.*")[1] is not None
    assert compile_matcher("*") == (None, None)
