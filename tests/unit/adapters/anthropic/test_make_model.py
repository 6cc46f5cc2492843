from __future__ import annotations

import json
from pathlib import Path

import pytest

from dexa.adapters.anthropic import make_model
from dexa.adapters.anthropic.model import AnthropicModel
from dexa.core.errors import ConfigError
from dexa.testing.scripted import ScriptedModel


def test_scripted_name_builds_a_scripted_model_from_the_file(tmp_path: Path) -> None:
    script = tmp_path / "demo.json"
    script.write_text(json.dumps({"turns": [{"text": "hi"}]}))
    model = make_model(f"scripted:{script}", {"CLAUDE_CODE_USE_BEDROCK": "1"})
    assert isinstance(model, ScriptedModel)
    assert model.name == f"scripted:{script}"


def test_missing_script_file_is_a_config_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.json"):
        make_model(f"scripted:{tmp_path / 'nope.json'}", {})


def test_default_is_anthropic_with_aliases_resolved_against_the_given_env() -> None:
    model = make_model(
        "opus", {"ANTHROPIC_DEFAULT_OPUS_MODEL": "claude-opus-4-6", "CLAUDE_CODE_MAX_OUTPUT_TOKENS": "1000"}
    )
    assert isinstance(model, AnthropicModel)
    assert model.name == "claude-opus-4-6"
    assert model.max_tokens == 1000


def test_budget_env_vars_must_be_integers() -> None:
    with pytest.raises(ConfigError, match="MAX_THINKING_TOKENS"):
        make_model("sonnet", {"MAX_THINKING_TOKENS": "lots"})
