"""Settings written through the deployed API survive the container: one API Lambda container writes them, a second
one with its own fresh DEXA_HOME (another /tmp) reads them, and the session settings it would load carry them."""

from __future__ import annotations

import json
import runpy
from pathlib import Path
from typing import Any

import pytest
from test_api_front import ROOT, bearer, call, deployed, rest  # noqa: F401  # deployed: the API Lambda fixture

from dexa.cloud import lambdas
from dexa.settings import get_settings


def _new_container(monkeypatch: pytest.MonkeyPatch, world: Any, home: Path) -> None:
    """A cold start: another /tmp, the settings and the runtime built again, the handler loaded again."""
    monkeypatch.setenv("DEXA_HOME", str(home))
    get_settings.cache_clear()
    lambdas.cloud_runtime.cache_clear()
    world.handler = runpy.run_path(str(ROOT / "functions" / "api" / "handler.py"))["handler"]


def _json(world: Any) -> dict[str, str]:
    return {**bearer(world), "Content-Type": "application/json"}


def _body(resp: dict[str, Any], status: int = 200) -> dict[str, Any]:
    assert resp["statusCode"] == status, resp["body"]
    return json.loads(resp["body"])


def test_permissions_written_in_one_container_are_read_and_applied_in_another(
    deployed: Any,  # noqa: F811  # the fixture imported above
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    perms = {"allow": ["Bash(git status:*)"], "deny": ["Read(./.env)"], "defaultMode": "acceptEdits"}
    put = rest("PUT", "/settings/permissions", headers=_json(deployed), body={"permissions": perms})
    assert _body(call(deployed, put))["effective"]["allow"] == ["Bash(git status:*)"]
    local = {"scope": "local", "permissions": {"ask": ["Write"]}}
    _body(call(deployed, rest("PUT", "/settings/permissions", headers=_json(deployed), body=local)))

    second = tmp_path / "second-home"
    _new_container(monkeypatch, deployed, second)
    view = _body(call(deployed, rest("GET", "/settings/permissions", headers=bearer(deployed))))
    assert view["cwd"].startswith(str(second))  # really the other container's disk
    eff = view["effective"]
    assert eff["allow"] == ["Bash(git status:*)"] and eff["deny"] == ["Read(./.env)"] and eff["ask"] == ["Write"]
    assert eff["default_mode"] == "acceptEdits"
    # What a session in this container loads from its workspace is the same document.
    written = json.loads((Path(view["cwd"]) / ".claude" / "settings.json").read_text())
    assert written["permissions"] == perms


def test_the_newest_write_wins_across_containers(
    deployed: Any,  # noqa: F811  # the fixture imported above
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    first = get_settings().home
    body = {"permissions": {"deny": ["Bash"]}}
    _body(call(deployed, rest("PUT", "/settings/permissions", headers=_json(deployed), body=body)))
    _new_container(monkeypatch, deployed, tmp_path / "second-home")
    body = {"permissions": {"deny": ["WebFetch"]}}
    _body(call(deployed, rest("PUT", "/settings/permissions", headers=_json(deployed), body=body)))
    _new_container(monkeypatch, deployed, first)  # back to the first container, whose file is now stale
    view = _body(call(deployed, rest("GET", "/settings/permissions", headers=bearer(deployed))))
    assert view["effective"]["deny"] == ["WebFetch"]


def test_memory_written_in_one_container_is_loaded_in_another(
    deployed: Any,  # noqa: F811  # the fixture imported above
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    for path, content in (("CLAUDE.md", "Always answer in French."), ("~/.claude/CLAUDE.md", "Org rule: be brief.")):
        if path.startswith("~/"):
            path = str(get_settings().orgs_dir / deployed.org_id / path[2:])
        body = {"path": path, "content": content}
        _body(call(deployed, rest("PUT", "/memory", headers=_json(deployed), body=body)))
    _new_container(monkeypatch, deployed, tmp_path / "second-home")
    view = _body(call(deployed, rest("GET", "/memory", headers=bearer(deployed))))
    contents = {f["content"].strip() for f in view["files"]}
    assert {"Always answer in French.", "Org rule: be brief."} <= contents
    assert all(f["path"].startswith(str(tmp_path / "second-home")) for f in view["files"])
