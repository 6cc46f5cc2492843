"""Suite-wide guards: no test may reach a real model API or read the developer's Dexa home."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True)
def _isolate_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch,
                  request: pytest.FixtureRequest) -> None:
    home = tmp_path_factory.mktemp("dexa-home")
    monkeypatch.setenv("DEXA_HOME", str(home))
    if request.node.get_closest_marker("live") is None:
        # Any real API call would need a key: make sure none leaks in from the developer's shell.
        monkeypatch.setenv("ANTHROPIC_BASE_URL", os.environ.get("DEXA_TEST_FORBIDDEN_URL", "http://127.0.0.1:9"))
        monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
        monkeypatch.delenv("ANTHROPIC_AUTH_TOKEN", raising=False)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    has_key = bool(os.environ.get("ANTHROPIC_API_KEY"))
    skip_live = pytest.mark.skip(reason="live test: needs real credentials (ANTHROPIC_API_KEY / AWS / Modal)")
    for item in items:
        if "live" in item.keywords and not has_key:
            item.add_marker(skip_live)
