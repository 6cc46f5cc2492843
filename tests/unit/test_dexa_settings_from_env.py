"""DexaSettings reads DEXA_* itself (no pydantic-settings on the headless path): arguments over the environment
over defaults, names case-insensitive, values coerced, a bad value a ValidationError naming the field."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from dexa.settings import DexaSettings


def test_environment_then_arguments_then_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DEXA_HOME", str(tmp_path))
    monkeypatch.setenv("DEXA_UNSANDBOXED", "true")
    monkeypatch.setenv("dexa_loop_threshold", "7")
    monkeypatch.setenv("DEXA_NOT_A_SETTING", "x")  # ignored, as other DEXA_ variables (DEXA_TOKEN...) are
    settings = DexaSettings()
    assert (settings.home, settings.unsandboxed, settings.loop_threshold) == (tmp_path, True, 7)
    assert settings.store == "sqlite" and settings.workspace_root is None
    assert DexaSettings(home=tmp_path / "h", loop_threshold=3).home == tmp_path / "h"
    assert DexaSettings(loop_threshold=3).loop_threshold == 3


def test_a_bad_value_names_the_field(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEXA_MAX_BODY_BYTES", "lots")
    with pytest.raises(ValidationError, match="max_body_bytes"):
        DexaSettings()
