"""Suite-wide guards: no test may reach a real model API or read the developer's Dexa home."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True)
def _isolate_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    home = tmp_path_factory.mktemp("dexa-home")
    monkeypatch.setenv("DEXA_HOME", str(home))
    if request.node.get_closest_marker("live") is None:
        # Any real API call would need a key: make sure none leaks in from the developer's shell.
        monkeypatch.setenv("ANTHROPIC_BASE_URL", os.environ.get("DEXA_TEST_FORBIDDEN_URL", "http://127.0.0.1:9"))
        monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
        monkeypatch.delenv("ANTHROPIC_AUTH_TOKEN", raising=False)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # A live test names the credential it needs: @pytest.mark.live("GITHUB_TOKEN"); bare `live` means the model.
    for item in items:
        marker = item.get_closest_marker("live")
        if marker is None:
            continue
        needed = marker.args or ("ANTHROPIC_API_KEY",)
        missing = [k for k in needed if not os.environ.get(k)]
        if missing:
            item.add_marker(pytest.mark.skip(reason=f"live test: needs {', '.join(missing)}"))
