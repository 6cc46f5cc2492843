"""Modes (validation, starting mode, Shift+Tab cycle) and "always allow" persistence."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from permission_cases import Stack

from dexa.core.errors import ConfigError
from dexa.permissions.modes import check_mode, cycle_mode, initial_mode, normalize_mode
from dexa.permissions.persist import persist_allow_rule, persistence_scope


@pytest.mark.parametrize(
    ("current", "bypass", "expected"),
    [
        ("default", False, "acceptEdits"),
        ("acceptEdits", False, "plan"),
        ("plan", False, "default"),
        ("plan", True, "bypassPermissions"),
        ("bypassPermissions", True, "default"),
        ("dontAsk", False, "default"),
        ("manual", False, "acceptEdits"),
    ],
    ids=[
        "docs-default-to-acceptEdits",
        "docs-acceptEdits-to-plan",
        "docs-plan-back-to-default",
        "docs-bypass-slots-in-after-plan",
        "bypass-back-to-default",
        "docs-dontAsk-not-in-cycle",
        "manual-alias",
    ],
)
def test_shift_tab_cycle_matches_claude_code(current: str, bypass: bool, expected: str) -> None:
    assert cycle_mode(current, bypass_allowed=bypass) == expected


def test_unknown_and_auto_modes_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="auto mode"):
        normalize_mode("auto")
    with pytest.raises(ConfigError, match="unknown permission mode"):
        normalize_mode("yolo")


def test_bypass_is_refused_when_a_layer_disables_it(make_stack: Callable[..., Stack]) -> None:
    stack = make_stack(managed={"permissions": {"disableBypassPermissionsMode": "disable"}})
    with pytest.raises(ConfigError, match="disableBypassPermissionsMode"):
        check_mode("bypassPermissions", stack.settings)
    assert check_mode("acceptEdits", stack.settings) == "acceptEdits"


def test_starting_mode_flag_then_default_mode_then_default(make_stack: Callable[..., Stack]) -> None:
    assert initial_mode(make_stack().settings) == "default"
    stack = make_stack(user={"permissions": {"defaultMode": "acceptEdits"}})
    assert initial_mode(stack.settings) == "acceptEdits"
    assert initial_mode(stack.settings, "plan") == "plan"


@pytest.mark.parametrize(
    ("rule", "scope"),
    [
        ("Bash(npm test *)", "local"),
        ("WebFetch(domain:x.org)", "local"),
        ("WebSearch", "local"),
        ("Edit(src/**)", "session"),
        ("mcp__github__get_issue", "session"),
        ("Read(//tmp/**)", "session"),
    ],
)
def test_docs_only_bash_and_web_approvals_persist_to_disk(rule: str, scope: str) -> None:
    assert persistence_scope(rule) == scope


def test_persist_writes_local_settings_and_keeps_other_keys(tmp_path: Path) -> None:
    project = tmp_path / "proj"
    (project / ".claude").mkdir(parents=True)
    local = project / ".claude" / "settings.local.json"
    local.write_text(json.dumps({"env": {"A": "1"}, "permissions": {"deny": ["Bash(rm *)"], "allow": ["Read"]}}))
    path = persist_allow_rule(str(project), "Bash(npm test *)", home=str(tmp_path / "home"))
    persist_allow_rule(str(project), "Bash(npm test *)", home=str(tmp_path / "home"))  # idempotent
    data = json.loads(local.read_text())
    assert path == str(local)
    assert data == {"env": {"A": "1"}, "permissions": {"deny": ["Bash(rm *)"], "allow": ["Read", "Bash(npm test *)"]}}


def test_persist_creates_the_file_and_directory(tmp_path: Path) -> None:
    path = persist_allow_rule(str(tmp_path), "WebFetch(domain:example.com)", home=str(tmp_path / "home"))
    assert json.loads(Path(path).read_text()) == {"permissions": {"allow": ["WebFetch(domain:example.com)"]}}


def test_persist_goes_to_the_git_repository_root(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    sub = repo / "packages" / "api"
    sub.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    path = persist_allow_rule(str(sub), "Bash(make)", home=str(tmp_path / "home"))
    assert path == str(repo / ".claude" / "settings.local.json")


def test_persist_refuses_to_overwrite_a_broken_file(tmp_path: Path) -> None:
    local = tmp_path / ".claude" / "settings.local.json"
    local.parent.mkdir()
    local.write_text("{ not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        persist_allow_rule(str(tmp_path), "Bash(make)", home=str(tmp_path / "home"))
    assert local.read_text() == "{ not json"
    assert not [p for p in os.listdir(local.parent) if p.startswith(".settings.local.")]


def test_persisted_rule_is_loaded_next_session(make_stack: Callable[..., Stack], tmp_path: Path) -> None:
    stack = make_stack()
    assert stack.engine.decide("Bash", {"command": "make build"}, mode="default", cwd=stack.cwd).behavior == "ask"
    persist_allow_rule(stack.cwd, "Bash(make build *)", home=stack.home)
    again = make_stack()
    decision = again.engine.decide("Bash", {"command": "make build"}, mode="default", cwd=again.cwd)
    assert (decision.behavior, decision.source) == ("allow", again.source("local"))
