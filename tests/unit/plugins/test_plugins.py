"""Marketplaces and plugins end to end on disk: add, install (copy and real git clone), enable, load components."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from plugin_layouts import code_review_repo, git_repo, marketplace, write

from dexa.agents import load_extensions
from dexa.core.errors import ConfigError
from dexa.plugins import MarketplacePolicy, PluginStore, load_marketplace, load_plugin
from dexa.plugins.manifest import parse_manifest
from dexa.plugins.marketplace import parse_marketplace


@pytest.fixture
def world(tmp_path: Path) -> tuple[PluginStore, Path, str]:
    repo, head = code_review_repo(tmp_path / "remote")
    market = marketplace(tmp_path / "src", git_plugin_url=str(repo))
    project = tmp_path / "project"
    (project / ".git").mkdir(parents=True)
    store = PluginStore(tmp_path / "home", cwd=project)
    store.add_marketplace(str(market))
    return store, project, head


def test_a_local_marketplace_directory_is_added_and_listed(world: tuple[PluginStore, Path, str]) -> None:
    store, _, _ = world
    info = store.known()["acme-tools"]
    assert info["source"]["source"] == "directory"
    market = store.marketplace("acme-tools")
    assert [p.name for p in market.plugins] == [
        "commit-commands",
        "security-guidance",
        "broken-plugin",
        "inline-only",
        "code-review",
    ]


def test_install_from_a_relative_source_copies_records_and_enables(world: tuple[PluginStore, Path, str]) -> None:
    store, _, _ = world
    done = store.install("commit-commands@acme-tools")
    assert done.path == store.root / "cache" / "acme-tools" / "commit-commands" / "1.0.0"
    assert (done.path / "commands" / "commit.md").is_file() and done.enabled
    records = json.loads((store.root / "installed_plugins.json").read_text())
    assert records["version"] == 2 and records["plugins"]["commit-commands@acme-tools"][0]["scope"] == "user"
    settings = json.loads((store.home / ".claude" / "settings.json").read_text())
    assert settings["enabledPlugins"] == {"commit-commands@acme-tools": True}


def test_install_from_a_git_source_is_a_real_clone(world: tuple[PluginStore, Path, str]) -> None:
    store, _, head = world
    done = store.install("code-review")
    assert done.commit == head and done.version == "2.0.1"
    assert (done.path / "agents" / "code-reviewer.md").is_file() and not (done.path / ".git").exists()
    record = json.loads((store.root / "installed_plugins.json").read_text())["plugins"]["code-review@acme-tools"][0]
    assert record["gitCommitSha"] == head


def test_a_marketplace_in_a_git_repository_is_cloned(tmp_path: Path) -> None:
    market = marketplace(tmp_path / "src")
    git_repo(market)
    store = PluginStore(tmp_path / "home", cwd=tmp_path)
    added = store.add_marketplace(f"file://{market}")
    assert added.root == store.root / "marketplaces" / "acme-tools"
    assert (added.root / ".git").is_dir()
    assert store.install("commit-commands").path.is_dir()


def test_installing_is_an_explicit_trust_decision(world: tuple[PluginStore, Path, str]) -> None:
    store, _, _ = world
    seen: list[list[str]] = []

    def decline(plugin) -> bool:
        seen.append(plugin.runs_code)
        return False

    with pytest.raises(ConfigError, match="declined"):
        store.install("security-guidance", confirm=decline)
    assert seen == [
        ["hook PreToolUse", "MCP server plugin_security-guidance_semgrep", "bin/ executables on the Bash PATH"]
    ]
    assert not (store.root / "cache" / "acme-tools" / "security-guidance").exists()
    assert not (store.root / "installed_plugins.json").exists()


def test_a_broken_plugin_json_fails_that_plugin_only_with_the_file_named(world: tuple[PluginStore, Path, str]) -> None:
    store, _, _ = world
    with pytest.raises(ConfigError, match=r"plugin\.json: invalid JSON"):
        store.install("broken-plugin")
    assert store.install("commit-commands").enabled


def test_enable_disable_and_uninstall_write_settings(world: tuple[PluginStore, Path, str]) -> None:
    store, project, _ = world
    store.install("commit-commands", scope="project")
    settings = project / ".claude" / "settings.json"
    assert json.loads(settings.read_text())["enabledPlugins"]["commit-commands@acme-tools"] is True
    store.set_enabled("commit-commands", False, scope="project")
    assert json.loads(settings.read_text())["enabledPlugins"]["commit-commands@acme-tools"] is False
    path = store.installed()[0].path
    store.uninstall("commit-commands", scope="project")
    assert not path.exists() and store.installed() == []
    assert "commit-commands@acme-tools" not in json.loads(settings.read_text())["enabledPlugins"]


def test_org_policy_restricts_marketplaces_to_an_approved_list(tmp_path: Path) -> None:
    market = marketplace(tmp_path / "src")
    other = marketplace(tmp_path / "other")
    policy = MarketplacePolicy.from_settings(
        {
            "strictKnownMarketplaces": [{"source": "directory", "path": str(market)}],
            "blockedMarketplaces": [{"source": "github", "repo": "evil/plugins"}],
        }
    )
    store = PluginStore(tmp_path / "home", cwd=tmp_path, policy=policy)
    assert store.add_marketplace(str(market)).name == "acme-tools"
    with pytest.raises(ConfigError, match="approved list"):
        store.add_marketplace(str(other))
    with pytest.raises(ConfigError, match="blocked"):
        store.add_marketplace("evil/plugins")


def test_enabled_plugins_contribute_commands_skills_agents_hooks_and_mcp_servers(
    world: tuple[PluginStore, Path, str],
) -> None:
    store, project, _ = world
    for name in ("commit-commands", "security-guidance", "code-review", "inline-only"):
        store.install(name)
    store.set_enabled("code-review", False)
    ext = load_extensions(str(project), home=store.home, managed_dir=None)
    names = set(ext.commands.names())
    assert {
        "commit-commands:commit",
        "commit-commands:commit-push-pr",
        "security-guidance:secure-coding",
        "inline-only:hello",
    } <= names
    assert "inline-only:ignored" not in names and "code-review:review" not in names
    assert ext.agents.get("code-review:code-reviewer") is None
    sec_root = store.root / "cache" / "acme-tools" / "security-guidance" / "0.3.0"
    hook = ext.hooks["PreToolUse"][0]
    assert hook["matcher"] == "Edit|Write|MultiEdit"
    assert hook["hooks"][0]["command"] == f"python3 {sec_root}/hooks/security_reminder_hook.py"
    server = ext.mcp_servers["plugin_security-guidance_semgrep"]
    assert server["command"] == f"{sec_root}/bin/semgrep-mcp" and server["args"] == ["--config", f"{sec_root}/rules"]
    assert server["env"]["DATA"].endswith("plugins/data/security-guidance-acme-tools")
    skill = ext.commands.get("security-guidance:secure-coding")
    assert skill is not None and skill.plugin_root == str(sec_root)
    assert ext.problems == []
    store.set_enabled("code-review", True)
    ext = load_extensions(str(project), home=store.home, managed_dir=None)
    agent = ext.agents.get("code-review:code-reviewer")
    assert agent is not None and agent.tools == ("Read", "Grep", "Glob", "Bash") and agent.model is None


def test_a_plugin_enabled_by_settings_but_not_installed_is_reported_not_installed(tmp_path: Path) -> None:
    project = tmp_path / "project"
    write(project / ".claude" / "settings.json", {"enabledPlugins": {"evil@somewhere": True}})
    ext = load_extensions(str(project), home=tmp_path / "home", managed_dir=None)
    assert [p.key for p in ext.problems] == ["enabledPlugins.evil@somewhere"]
    assert "never automatic" in ext.problems[0].message
    assert not (tmp_path / "home" / ".claude" / "plugins" / "cache").exists()


def test_manifest_and_marketplace_validation_name_the_file_and_key(tmp_path: Path) -> None:
    _, problems = parse_manifest({"name": "Bad Name", "version": 2, "commands": "commands/"}, file="p.json")
    assert {p.key for p in problems} == {"name", "version", "commands"}
    _, problems = parse_marketplace({"name": "claude-plugins-official", "plugins": []}, root=tmp_path, file="m.json")
    assert {p.key for p in problems} == {"name", "owner.name"}
    market, problems = parse_marketplace(
        {
            "name": "ok",
            "owner": {"name": "x"},
            "plugins": [
                {"name": "a", "source": "../escape"},
                {"name": "b", "source": {"source": "ftp"}},
                {"name": "c", "source": "./c"},
            ],
        },
        root=tmp_path,
        file="m.json",
    )
    assert market is not None and [p.name for p in market.plugins] == ["c"]
    assert [p.key for p in problems] == ["plugins[0].source", "plugins[1].source.source"]


def test_plugin_without_a_manifest_is_named_after_its_directory(tmp_path: Path) -> None:
    root = tmp_path / "quick-tools"
    write(root / "commands" / "hi.md", "hi")
    plugin, problems = load_plugin(root, data_dir=tmp_path / "data")
    assert problems == [] and plugin is not None and plugin.ref.name == "quick-tools"
    assert load_marketplace(tmp_path)[0] is None


def test_extra_known_marketplaces_are_suggestions_added_only_on_request(tmp_path: Path) -> None:
    market = marketplace(tmp_path / "src")
    project = tmp_path / "project"
    write(
        project / ".claude" / "settings.json",
        {
            "extraKnownMarketplaces": {"team": {"source": {"source": "directory", "path": str(market)}}},
            "enabledPlugins": {"commit-commands@acme-tools": True},
        },
    )
    store = PluginStore(tmp_path / "home", cwd=project)
    ext = load_extensions(str(project), home=store.home, managed_dir=None)
    assert store.known() == {} and ext.commands.get("commit-commands:commit") is None
    assert store.add_marketplace("team").name == "acme-tools"
    store.install("commit-commands")
    ext = load_extensions(str(project), home=store.home, managed_dir=None)
    assert ext.commands.get("commit-commands:commit") is not None and ext.problems == []
