"""`dexa.network` precedence: org > user > project, a project only narrows, org maxLevel caps."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from dexa.config.loader import load_settings
from dexa.config.settings import EffectiveSettings, SettingsProblem
from dexa.egress.policy import TRUSTED_DOMAINS


def _load(
    tmp_path: Path, *, org: Any = None, user: Any = None, project: Any = None, local: Any = None
) -> tuple[EffectiveSettings, list[SettingsProblem], dict[str, str]]:
    cwd, home = tmp_path / "repo", tmp_path / "home"
    paths = {
        "user": home / ".claude" / "settings.json",
        "project": cwd / ".claude" / "settings.json",
        "local": cwd / ".claude" / "settings.local.json",
    }
    for name, value in (("user", user), ("project", project), ("local", local)):
        if value is not None:
            paths[name].parent.mkdir(parents=True, exist_ok=True)
            paths[name].write_text(json.dumps({"dexa": {"network": value}}))
    cwd.mkdir(exist_ok=True)
    settings, problems = load_settings(
        str(cwd),
        home=str(home),
        env={},
        managed_path=None,
        org_policy={"dexa": {"network": org}} if org is not None else None,
    )
    return settings, problems, {k: str(v) for k, v in paths.items()}


@pytest.mark.parametrize(
    ("org", "user", "project", "level"),
    [
        (None, None, None, "none"),
        (None, {"level": "trusted"}, None, "trusted"),
        ({"level": "full"}, {"level": "none"}, None, "full"),  # org > user
        (None, {"level": "full"}, {"level": "trusted"}, "trusted"),  # a project may narrow
        (None, {"level": "full"}, {"level": "none"}, "none"),
        (None, {"level": "trusted"}, {"level": "full"}, "trusted"),  # but not widen
        (None, None, {"level": "full"}, "none"),
        ({"level": "trusted"}, None, {"level": "custom", "allowedDomains": ["evil.com"]}, "custom"),
        (None, {"enabled": True}, None, "trusted"),  # the older flag
        (None, {"enabled": False, "allowedDomains": ["a.org"]}, None, "none"),
        (None, {"allowedDomains": ["a.org"]}, None, "custom"),
        ({"maxLevel": "trusted"}, {"level": "full"}, None, "trusted"),  # the org cap
        ({"maxLevel": "none"}, {"level": "trusted"}, None, "none"),
        ({"maxLevel": "full"}, {"level": "trusted"}, None, "trusted"),
    ],
)
def test_effective_level_table(tmp_path: Path, org: Any, user: Any, project: Any, level: str) -> None:
    settings, _, _ = _load(tmp_path, org=org, user=user, project=project)
    assert settings.dexa.network.level == level


def test_a_project_list_shrinks_the_user_list_and_reports_the_rest(tmp_path: Path) -> None:
    settings, problems, paths = _load(
        tmp_path, user={"level": "trusted"}, project={"allowedDomains": ["pypi.org", "evil.com"]}
    )
    assert settings.dexa.network.allowed_domains == ("pypi.org",)
    assert [(p.file, p.key) for p in problems] == [(paths["project"], "dexa.network.level")]
    assert "can only narrow" in problems[0].message


def test_local_file_is_narrow_only_too(tmp_path: Path) -> None:
    settings, problems, paths = _load(tmp_path, user={"level": "trusted"}, local={"level": "full"})
    assert settings.dexa.network.level == "trusted"
    assert [p.file for p in problems] == [paths["local"]]


def test_denied_domains_pool_from_every_layer_including_the_project(tmp_path: Path) -> None:
    settings, problems, _ = _load(
        tmp_path, org={"level": "full", "deniedDomains": ["*.evil.com"]}, project={"deniedDomains": ["github.com"]}
    )
    assert problems == []
    net = settings.dexa.network
    assert net.level == "full" and not net.allows("github.com") and not net.allows("x.evil.com")
    assert net.allows("example.com")


def test_only_org_policy_sets_max_level_and_the_cap_is_exposed(tmp_path: Path) -> None:
    settings, problems, paths = _load(tmp_path, org={"maxLevel": "trusted"}, user={"maxLevel": "full"})
    assert (paths["user"], "dexa.network.maxLevel") in {(p.file, p.key) for p in problems}
    assert settings.dexa.network_cap.level == "trusted"
    assert set(settings.dexa.network_cap.allowed_domains) == set(TRUSTED_DOMAINS)


def test_user_above_org_cap_is_capped_and_reported(tmp_path: Path) -> None:
    settings, problems, paths = _load(tmp_path, org={"maxLevel": "trusted"}, user={"level": "full"})
    assert settings.dexa.network.level == "trusted"
    assert [(p.file, p.key) for p in problems] == [(paths["user"], "dexa.network.level")]
    assert "maxLevel" in problems[0].message


def test_custom_plus_defaults_and_where_the_level_came_from(tmp_path: Path) -> None:
    settings, problems, paths = _load(
        tmp_path, user={"level": "custom", "allowedDomains": ["Example.com"], "includeDefaults": True}
    )
    assert problems == []
    assert settings.dexa.network.allows("example.com") and settings.dexa.network.allows("pypi.org")
    assert settings.scalar_sources["dexa.network.level"] == paths["user"]


@pytest.mark.parametrize(
    ("value", "key"),
    [
        ({"level": "open"}, "dexa.network.level"),
        ({"allowedDomains": "a.org"}, "dexa.network.allowedDomains"),
        ({"allowedDomains": ["*"]}, "dexa.network.allowedDomains[0]"),
        ({"enabled": "yes"}, "dexa.network.enabled"),
        ({"proxy": "x"}, "dexa.network.proxy"),
        ({"level": "full", "allowedDomains": ["a.org"]}, "dexa.network.allowedDomains"),
    ],
)
def test_malformed_values_are_reported_by_key(tmp_path: Path, value: Any, key: str) -> None:
    _, problems, paths = _load(tmp_path, user=value)
    assert (paths["user"], key) in {(p.file, p.key) for p in problems}
