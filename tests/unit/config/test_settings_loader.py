"""Hierarchical settings: precedence, pooling, managed locks, malformed files (reference §1)."""

from __future__ import annotations

import dataclasses
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from dexa.config.loader import load_settings
from dexa.config.settings import EffectiveSettings, SettingsProblem


class Tree:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.cwd = root / "repo"
        self.home = root / "home"
        self.managed = root / "etc" / "managed-settings.json"
        for d in (self.cwd, self.home, self.managed.parent):
            d.mkdir(parents=True, exist_ok=True)

    def write(self, where: str, data: Any) -> Path:
        path = {
            "project": self.cwd / ".claude" / "settings.json",
            "local": self.cwd / ".claude" / "settings.local.json",
            "user": self.home / ".claude" / "settings.json",
            "managed": self.managed,
        }.get(where) or self.root / where
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(data if isinstance(data, str) else json.dumps(data))
        return path

    def load(self, **kwargs: Any) -> tuple[EffectiveSettings, list[SettingsProblem]]:
        kwargs.setdefault("env", {})
        return load_settings(str(self.cwd), home=str(self.home), managed_path=str(self.managed), **kwargs)


@pytest.fixture
def tree(tmp_path: Path) -> Tree:
    return Tree(tmp_path)


def test_scalars_follow_precedence_managed_cli_local_project_user(tree: Tree) -> None:
    for layer in ("user", "project", "local", "managed"):
        tree.write(layer, {"model": f"model-from-{layer}"})
    settings, problems = tree.load(cli={"model": "model-from-cli"})
    assert settings.model == "model-from-managed"
    assert problems == []
    tree.managed.unlink()
    assert tree.load(cli={"model": "model-from-cli"})[0].model == "model-from-cli"
    assert tree.load()[0].model == "model-from-local"
    (tree.cwd / ".claude" / "settings.local.json").unlink()
    assert tree.load()[0].model == "model-from-project"


def test_unset_scalars_fall_through_to_lower_layers(tree: Tree) -> None:
    tree.write("user", {"model": "user-model"})
    tree.write("project", {"env": {"A": "1"}})
    settings, _ = tree.load()
    assert settings.model == "user-model"
    assert settings.scalar_sources["model"] == str(tree.home / ".claude" / "settings.json")


def test_permission_lists_pool_across_layers_and_remember_their_file(tree: Tree) -> None:
    user = tree.write("user", {"permissions": {"allow": ["Bash(a)"], "deny": ["Bash(x)"]}})
    project = tree.write("project", {"permissions": {"allow": ["Bash(b)"], "ask": ["Bash(y)"]}})
    settings, _ = tree.load(cli={"allowedTools": ["Bash(c)"], "disallowedTools": "Bash(z)"})
    assert [(r.rule, r.source) for r in settings.allow] == [
        ("Bash(c)", "cli"),
        ("Bash(b)", str(project)),
        ("Bash(a)", str(user)),
    ]
    assert [r.rule for r in settings.deny] == ["Bash(z)", "Bash(x)"]
    assert [r.rule for r in settings.ask] == ["Bash(y)"]


def test_malformed_json_names_line_and_column_and_other_layers_still_load(tree: Tree) -> None:
    bad = tree.write("project", '{\n  "permissions": {"allow": ["Bash(a)",]}\n}')
    tree.write("user", {"permissions": {"allow": ["Bash(user)"]}})
    settings, problems = tree.load()
    assert [r.rule for r in settings.allow] == ["Bash(user)"]
    (problem,) = problems
    assert problem.file == str(bad)
    assert "line 2, column" in problem.message
    assert problem.to_event()["file"] == str(bad)


def test_wrong_type_for_a_key_is_reported_and_other_keys_kept(tree: Tree) -> None:
    path = tree.write(
        "project",
        {"permissions": {"allow": "Bash(a)", "deny": ["Bash(b)", 42]}, "model": 7, "env": {"OK": "1", "BAD": ["x"]}},
    )
    settings, problems = tree.load()
    keys = {(p.file, p.key) for p in problems}
    assert (str(path), "permissions.allow") in keys
    assert (str(path), "permissions.deny[1]") in keys
    assert (str(path), "model") in keys
    assert (str(path), "env.BAD") in keys
    assert [r.rule for r in settings.deny] == ["Bash(b)"]
    assert dict(settings.env) == {"OK": "1"}


def test_top_level_must_be_an_object(tree: Tree) -> None:
    tree.write("user", "[1, 2]")
    _, problems = tree.load()
    assert "top level must be a JSON object" in problems[0].message


def test_bad_rules_are_skipped_with_a_warning_and_good_ones_kept(tree: Tree) -> None:
    tree.write(
        "project", {"permissions": {"allow": ["Bash(unclosed", "mcp__*", "Bash(ok)"], "deny": ["mcp__github(owner:x)"]}}
    )
    settings, problems = tree.load()
    assert [r.rule for r in settings.allow] == ["Bash(ok)"]
    assert settings.deny == ()
    assert {p.key for p in problems} == {"permissions.allow[0]", "permissions.allow[1]", "permissions.deny[0]"}


def test_docs_mcp_parameter_rule_allowed_from_disallowedTools(tree: Tree) -> None:
    settings, problems = tree.load(cli={"disallowedTools": ["mcp__github(owner:x)"]})
    assert [r.rule for r in settings.deny] == ["mcp__github(owner:x)"]
    assert problems == []


def test_docs_inert_write_path_rule_loads_with_a_warning(tree: Tree) -> None:
    tree.write("project", {"permissions": {"allow": ["Write(docs/**)"]}})
    settings, problems = tree.load()
    assert [r.rule for r in settings.allow] == ["Write(docs/**)"]
    assert "never consulted" in problems[0].message


def test_managed_drop_ins_merge_alphabetically_after_the_base(tree: Tree) -> None:
    tree.write("managed", {"model": "base", "permissions": {"deny": ["Bash(base)"]}})
    drop = tree.managed.parent / "managed-settings.d"
    drop.mkdir()
    (drop / "20-b.json").write_text(json.dumps({"model": "b", "permissions": {"deny": ["Bash(b)"]}}))
    (drop / "10-a.json").write_text(json.dumps({"model": "a", "permissions": {"deny": ["Bash(a)"]}}))
    (drop / ".hidden.json").write_text(json.dumps({"model": "hidden"}))
    (drop / "notes.txt").write_text("ignored")
    settings, _ = tree.load()
    assert settings.model == "b"
    assert sorted(r.rule for r in settings.deny) == ["Bash(a)", "Bash(b)", "Bash(base)"]
    assert all(r.scope == "managed" for r in settings.deny)


def test_docs_first_managed_source_wins_org_policy_over_file(tree: Tree) -> None:
    tree.write("managed", {"permissions": {"deny": ["Bash(file)"]}})
    settings, _ = tree.load(org_policy={"permissions": {"deny": ["Bash(org)"]}})
    assert [(r.rule, r.source) for r in settings.deny] == [("Bash(org)", "policy")]


def test_managed_scalars_cannot_be_overridden_and_bypass_disable_works_from_any_scope(tree: Tree) -> None:
    tree.write("managed", {"model": "org-model"})
    tree.write("user", {"permissions": {"disableBypassPermissionsMode": "disable"}})
    settings, _ = tree.load(cli={"model": "mine"})
    assert settings.model == "org-model"
    assert settings.disable_bypass_permissions_mode is True


def test_docs_claude_config_dir_relocates_user_settings(tree: Tree) -> None:
    config_dir = tree.root / "cfg"
    tree.write("cfg/settings.json", {"model": "from-config-dir"})
    tree.write("user", {"model": "from-home"})
    settings, _ = tree.load(env={"CLAUDE_CONFIG_DIR": str(config_dir)})
    assert settings.model == "from-config-dir"


def test_settings_flag_accepts_a_file_and_inline_json(tree: Tree) -> None:
    extra = tree.write("ci/settings.json", {"permissions": {"allow": ["Edit(/gen/**)"]}})
    settings, _ = tree.load(cli={"settings": [str(extra), '{"model": "inline"}']})
    (rule,) = settings.allow
    assert (rule.source, rule.anchor, rule.scope) == (str(extra), str(extra.parent), "cli")
    assert settings.model == "inline"


def test_missing_settings_file_flag_is_a_problem(tree: Tree) -> None:
    _, problems = tree.load(cli={"settings": "nope.json"})
    assert "does not exist" in problems[0].message


def test_docs_slash_anchor_per_source(tree: Tree) -> None:
    tree.write("project", {"permissions": {"allow": ["Edit(/a)"]}})
    tree.write("local", {"permissions": {"allow": ["Edit(/b)"]}})
    tree.write("user", {"permissions": {"allow": ["Edit(/c)"]}})
    settings, _ = tree.load(cli={"allowedTools": ["Edit(/d)"]})
    anchors = {r.rule: r.anchor for r in settings.allow}
    assert anchors == {
        "Edit(/a)": str(tree.cwd),
        "Edit(/b)": str(tree.cwd),
        "Edit(/c)": str(tree.home / ".claude"),
        "Edit(/d)": str(tree.cwd),
    }


def test_setting_sources_limits_file_layers(tree: Tree) -> None:
    tree.write("user", {"model": "user"})
    tree.write("project", {"model": "project"})
    tree.write("managed", {"permissions": {"deny": ["Bash(x)"]}})
    settings, _ = tree.load(setting_sources=["user"])
    assert settings.model == "user"
    assert [r.rule for r in settings.deny] == ["Bash(x)"]


def test_docs_untrusted_workspace_holds_project_allow_and_dirs_but_not_deny(tree: Tree) -> None:
    tree.write(
        "project", {"permissions": {"allow": ["Bash(a)"], "deny": ["Bash(b)"], "additionalDirectories": ["../x"]}}
    )
    settings, problems = tree.load(trusted=False)
    assert settings.allow == () and settings.additional_directories == ()
    assert [r.rule for r in settings.deny] == ["Bash(b)"]
    assert any("not been trusted" in p.message for p in problems)


@pytest.mark.parametrize(
    ("layer", "value", "hosted", "expected"),
    [
        ("user", "acceptEdits", False, "acceptEdits"),
        ("user", "bypassPermissions", False, "bypassPermissions"),
        ("project", "bypassPermissions", False, "default"),
        ("local", "auto", False, "default"),
        ("project", "plan", False, "plan"),
        ("user", "manual", False, "default"),
        ("user", "dontAsk", True, None),
        ("managed", "dontAsk", True, "dontAsk"),
    ],
    ids=[
        "user-value",
        "user-bypass-ok",
        "docs-project-bypass-starts-default",
        "docs-local-auto-starts-default",
        "project-plan",
        "manual-alias",
        "docs-cloud-ignores-dontAsk-from-files",
        "policy-applies-when-hosted",
    ],
)
def test_default_mode_resolution(tree: Tree, layer: str, value: str, hosted: bool, expected: str | None) -> None:
    tree.write(layer, {"permissions": {"defaultMode": value}})
    assert tree.load(hosted=hosted)[0].default_mode == expected


def test_permission_mode_flag_beats_settings_default_mode(tree: Tree) -> None:
    tree.write("managed", {"permissions": {"defaultMode": "plan"}})
    assert tree.load(cli={"permissionMode": "acceptEdits"})[0].default_mode == "acceptEdits"


def test_env_merges_per_variable_by_precedence(tree: Tree) -> None:
    tree.write("user", {"env": {"A": "user", "B": "user"}})
    tree.write("project", {"env": {"B": "project", "C": "project"}})
    tree.write("managed", {"env": {"C": "managed"}})
    assert dict(tree.load()[0].env) == {"A": "user", "B": "project", "C": "managed"}


def test_additional_directories_pool_and_resolve(tree: Tree) -> None:
    tree.write("user", {"permissions": {"additionalDirectories": ["~/notes"]}})
    tree.write("project", {"permissions": {"additionalDirectories": ["../shared", "~/notes"]}})
    settings, _ = tree.load(cli={"addDir": [str(tree.root / "x")]})
    paths = [d.path for d in settings.additional_directories]
    assert paths == [str(tree.root / "x"), str(tree.root / "shared"), str(tree.home / "notes")]
    assert settings.working_dirs()[0] == str(tree.cwd)


def test_dexa_section_merges_with_org_policy_as_a_ceiling(tree: Tree) -> None:
    tree.write("managed", {"dexa": {"budgetUsd": 10, "maxTurns": 50, "network": {"allowedDomains": ["pypi.org"]}}})
    tree.write(
        "project",
        {
            "dexa": {
                "budgetUsd": 25,
                "maxTurns": 20,
                "loopDetection": {"threshold": 4},
                "network": {"enabled": True, "allowedDomains": ["evil.com"]},
                "outputPolicy": {"email": {"mode": "review"}},
            }
        },
    )
    tree.write("user", {"dexa": {"outputPolicy": {"email": {"mode": "auto", "batch": True}, "crm": "auto"}}})
    dexa = tree.load()[0].dexa
    assert dexa.budget_usd == 10  # the org limit cannot be raised
    assert dexa.max_turns == 20  # but it can be lowered
    assert dexa.loop_detection_threshold == 4
    assert dexa.network.enabled is True
    assert dexa.network.allowed_domains == ("pypi.org",)
    assert dict(dexa.output_policy) == {"email": {"mode": "review", "batch": True}, "crm": "auto"}


def test_dexa_section_problems_name_the_key(tree: Tree) -> None:
    path = tree.write(
        "project", {"dexa": {"budgetUsd": "lots", "maxTurns": 0, "color": "red", "loopDetection": {"threshold": True}}}
    )
    settings, problems = tree.load()
    assert {(p.file, p.key) for p in problems} == {
        (str(path), "dexa.budgetUsd"),
        (str(path), "dexa.maxTurns"),
        (str(path), "dexa.color"),
        (str(path), "dexa.loopDetection.threshold"),
    }
    assert settings.dexa.budget_usd is None and settings.dexa.max_turns is None


def test_project_domains_narrow_the_user_list_and_never_add_to_it(tree: Tree) -> None:
    path = tree.write("project", {"dexa": {"network": {"allowedDomains": ["A.org", "c.org"]}}})
    tree.write("user", {"dexa": {"network": {"allowedDomains": ["b.org", "a.org"]}}})
    settings, problems = tree.load()
    assert settings.dexa.network.allowed_domains == ("a.org",)
    assert [(p.file, p.key) for p in problems] == [(str(path), "dexa.network.level")]


def test_hooks_merge_across_layers_and_identical_handlers_run_once(tree: Tree) -> None:
    hook = {"PreToolUse": [{"matcher": "Bash", "hooks": [{"type": "command", "command": "check.sh"}]}]}
    tree.write("user", {"hooks": hook})
    tree.write("project", {"hooks": {**hook, "Stop": [{"hooks": [{"type": "command", "command": "stop.sh"}]}]}})
    settings, _ = tree.load()
    assert [h.command for h in settings.hooks.handlers_for("PreToolUse", "Bash")] == ["check.sh"]
    assert [h.command for h in settings.hooks.handlers_for("Stop", None)] == ["stop.sh"]


def test_disable_all_hooks_and_managed_only_hooks(tree: Tree) -> None:
    managed_hook = {"Stop": [{"hooks": [{"type": "command", "command": "org.sh"}]}]}
    tree.write("managed", {"hooks": managed_hook})
    tree.write(
        "project",
        {"hooks": {"Stop": [{"hooks": [{"type": "command", "command": "repo.sh"}]}]}, "disableAllHooks": True},
    )
    settings, _ = tree.load()
    assert [h.command for h in settings.hooks.handlers_for("Stop", None)] == ["org.sh"]
    tree.write("project", {"hooks": {"Stop": [{"hooks": [{"type": "command", "command": "repo.sh"}]}]}})
    tree.write("managed", {"hooks": managed_hook, "allowManagedHooksOnly": True})
    assert [h.command for h in tree.load()[0].hooks.handlers_for("Stop", None)] == ["org.sh"]


def test_local_settings_are_read_from_the_git_root(tree: Tree) -> None:
    subprocess.run(["git", "init", "-q", str(tree.cwd)], check=True)
    sub = tree.cwd / "pkg"
    sub.mkdir()
    tree.write("local", {"model": "from-root-local"})
    settings, _ = load_settings(str(sub), home=str(tree.home), managed_path=None, env={})
    assert settings.model == "from-root-local"


def test_effective_settings_are_frozen(tree: Tree) -> None:
    settings, _ = tree.load()
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.model = "x"  # type: ignore[misc]


def test_allow_managed_permission_rules_only_drops_other_rules(tree: Tree) -> None:
    tree.write("managed", {"allowManagedPermissionRulesOnly": True, "permissions": {"allow": ["Bash(ok)"]}})
    tree.write("project", {"permissions": {"allow": ["Bash(mine)"], "deny": ["Bash(x)"]}})
    settings, _ = tree.load(cli={"allowedTools": ["Bash(cli)"]})
    assert [r.rule for r in settings.allow] == ["Bash(ok)"]
    assert settings.deny == ()


def test_unreadable_directory_in_place_of_file_is_a_problem(tree: Tree) -> None:
    (tree.cwd / ".claude" / "settings.json").mkdir(parents=True)
    _, problems = tree.load()
    assert problems and problems[0].file.endswith("settings.json")


def test_claude_md_excludes_come_from_user_local_and_managed_but_not_the_shared_project_file(tmp_path: Path) -> None:
    # Claude Code honours claudeMdExcludes in user and local settings; the committed project file can't hide memory.
    t = Tree(tmp_path)
    t.write("user", {"claudeMdExcludes": ["**/vendor/CLAUDE.md"]})
    t.write("local", {"claudeMdExcludes": ["/abs/CLAUDE.md", "**/vendor/CLAUDE.md"]})
    t.write("project", {"claudeMdExcludes": ["**/CLAUDE.md"]})
    t.write("managed", {"claudeMdExcludes": ["**/gen/CLAUDE.md"]})
    settings, problems = t.load()
    assert problems == []
    assert sorted(settings.claude_md_excludes) == ["**/gen/CLAUDE.md", "**/vendor/CLAUDE.md", "/abs/CLAUDE.md"]
