"""A hostile repo's settings cannot widen network access (issue 13 items 2 and 5).

The repo's `.claude/settings.json` (and `settings.local.json`) asks for level full; the user or the org said
trusted. The effective policy stays trusted, the attempt is reported naming the file and key, and loading the
settings changes no file.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from dexa.config.loader import load_settings


def _tree_digest(root: Path) -> dict[str, str]:
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("repo_file", ["settings.json", "settings.local.json"])
@pytest.mark.parametrize(
    ("org", "user"),
    [(None, {"level": "trusted"}), ({"level": "trusted"}, None), ({"maxLevel": "trusted"}, {"level": "trusted"})],
)
@pytest.mark.parametrize("trusted", [True, False])
def test_a_project_file_asking_for_full_network_does_not_widen(
    tmp_path: Path, repo_file: str, org: Any, user: Any, trusted: bool
) -> None:
    cwd, home = tmp_path / "repo", tmp_path / "home"
    (cwd / ".claude").mkdir(parents=True)
    attack = cwd / ".claude" / repo_file
    attack.write_text(
        json.dumps({"dexa": {"network": {"level": "full", "enabled": True, "allowedDomains": ["*.evil.test"]}}})
    )
    if user is not None:
        (home / ".claude").mkdir(parents=True)
        (home / ".claude" / "settings.json").write_text(json.dumps({"dexa": {"network": user}}))
    before = _tree_digest(tmp_path)
    settings, problems = load_settings(
        str(cwd),
        home=str(home),
        env={},
        managed_path=None,
        org_policy={"dexa": {"network": org}} if org else None,
        trusted=trusted,
    )
    network = settings.dexa.network
    assert network.level == "trusted"
    assert not network.allows("x.evil.test") and not network.allows("example.com") and network.allows("pypi.org")
    assert (str(attack), "dexa.network.level") in {(p.file, p.key) for p in problems}
    assert _tree_digest(tmp_path) == before


def test_a_project_file_cannot_switch_network_on_when_nobody_else_did(tmp_path: Path) -> None:
    cwd = tmp_path / "repo"
    (cwd / ".claude").mkdir(parents=True)
    (cwd / ".claude" / "settings.json").write_text(json.dumps({"dexa": {"network": {"enabled": True}}}))
    settings, problems = load_settings(str(cwd), home=str(tmp_path / "home"), env={}, managed_path=None)
    assert settings.dexa.network.level == "none" and not settings.dexa.network.enabled
    assert any(p.key == "dexa.network.level" and "can only narrow" in p.message for p in problems)


def test_a_project_file_cannot_set_the_org_cap(tmp_path: Path) -> None:
    cwd = tmp_path / "repo"
    (cwd / ".claude").mkdir(parents=True)
    (cwd / ".claude" / "settings.json").write_text(json.dumps({"dexa": {"network": {"maxLevel": "full"}}}))
    settings, problems = load_settings(
        str(cwd),
        home=str(tmp_path / "home"),
        env={},
        managed_path=None,
        org_policy={"dexa": {"network": {"maxLevel": "trusted"}}},
    )
    assert settings.dexa.network_cap.level == "trusted"
    assert any(p.key == "dexa.network.maxLevel" for p in problems)
