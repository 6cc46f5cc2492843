"""The synthesized turn machine, checked for what moto lets pass but Step Functions rejects (issue 14 item 4).

Two checks: asl-validator (npm, pinned in tools/asl) validates the schema and paths as AWS documents them, and
dexa.adapters.aws.asl_check proves every JSONPath a state reads resolves against what its input carries, and that
no Catch/Retry relies on an error AWS never lets them see.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from dexa.adapters.aws import asl, schema
from dexa.adapters.aws.asl_check import check_definition
from dexa.adapters.aws.moto_harness import resolve_state_machine

ROOT = Path(__file__).resolve().parents[2]
VALIDATOR = ROOT / "tools" / "asl" / "node_modules" / ".bin" / "asl-validator"


def _synthesized(templates: dict[str, Any]) -> dict[str, Any]:
    definition, _ = resolve_state_machine(templates["DexaAgent"])
    return json.loads(definition)


def _built() -> dict[str, Any]:
    return asl.turn_definition(step_function_arn="arn:aws:lambda:us-east-1:123456789012:function:AgentStep")


def _check(definition: dict[str, Any]) -> list[str]:
    return check_definition(definition, input_fields=schema.EXECUTION_INPUT_FIELDS)


def _validate(definition: dict[str, Any], tmp_path: Path) -> None:
    if shutil.which("node") is None:
        pytest.skip("node is not installed")
    assert VALIDATOR.exists(), "asl-validator is missing: run `make test-deps` (npm ci in tools/asl)"
    path = tmp_path / "turn.asl.json"
    path.write_text(json.dumps(definition))
    out = subprocess.run([str(VALIDATOR), "--json-path", str(path)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "is valid" in out.stdout


def test_the_synthesized_machine_passes_asl_validator(templates: dict[str, Any], tmp_path: Path) -> None:
    _validate(_synthesized(templates), tmp_path)


def test_the_built_machine_passes_asl_validator_and_the_static_check(tmp_path: Path) -> None:
    _validate(_built(), tmp_path)
    assert _check(_built()) == []


def test_asl_validator_rejects_a_broken_machine(tmp_path: Path) -> None:
    if shutil.which("node") is None or not VALIDATOR.exists():
        pytest.skip("asl-validator is not installed")
    broken = asl.turn_definition()
    del broken["States"]["Turn"]["Branches"][0]["States"]["Route"]  # a Next that names nothing
    path = tmp_path / "broken.asl.json"
    path.write_text(json.dumps(broken))
    out = subprocess.run([str(VALIDATOR), "--json-path", str(path)], capture_output=True, text=True, timeout=60)
    assert out.returncode != 0 and "Route" in out.stdout + out.stderr


def test_every_path_of_the_synthesized_machine_resolves_and_nothing_relies_on_moto_only_behaviour(
    templates: dict[str, Any],
) -> None:
    assert _check(_synthesized(templates)) == []


def test_the_map_item_that_read_a_field_its_input_lacks_is_reported() -> None:
    # The shape that failed every parallel item on AWS with States.Runtime (moto's Catch swallowed it).
    definition = asl.turn_definition()
    mapped = definition["States"]["Turn"]["Branches"][0]["States"]["RunReadOnlyTools"]
    del mapped["ItemSelector"]["calls_base.$"]
    (problem,) = _check(definition)
    assert "RunTool" in problem and "$.calls_base does not resolve" in problem and "tool_use_id" in problem


def _machine(**task: Any) -> dict[str, Any]:
    return {
        "StartAt": "A",
        "States": {
            "A": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "End": True, **task},
            "B": {"Type": "Succeed"},
        },
    }


@pytest.mark.parametrize(
    ("definition", "expected"),
    [
        (
            _machine(Catch=[{"ErrorEquals": ["States.Runtime"], "Next": "B"}]),
            "States.Runtime can not be caught",
        ),
        (_machine(Retry=[{"ErrorEquals": ["States.DataLimitExceeded"]}]), "States.DataLimitExceeded"),
        (_machine(Assign={"x": 1}), "uses Assign"),
        ({**_machine(), "QueryLanguage": "JSONata"}, "QueryLanguage JSONata"),
        (_machine(Parameters={"x.$": "$.nope"}), "$.nope does not resolve"),
        (_machine(Parameters={"x.$": "States.Format('{}', $.missing)"}), "$.missing does not resolve"),
        (_machine(Parameters={"x.$": "$$.Map.Item.Value"}), "only defined in a Map"),
        (
            {
                "StartAt": "C",
                "States": {
                    "C": {
                        "Type": "Choice",
                        "Choices": [{"Variable": "$.last.outcome", "StringEquals": "x", "Next": "B"}],
                        "Default": "B",
                    },
                    "B": {"Type": "Succeed"},
                },
            },
            "$.last.outcome does not resolve",
        ),
    ],
)
def test_each_kind_of_problem_is_named(definition: dict[str, Any], expected: str) -> None:
    problems = _check(definition)
    assert any(expected in p for p in problems), problems


def test_a_field_only_some_paths_carry_is_not_guaranteed() -> None:
    definition = {
        "StartAt": "Split",
        "States": {
            "Split": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.turn", "NumericEquals": 1, "Next": "WithLast"}],
                "Default": "Use",
            },
            "WithLast": {"Type": "Pass", "Result": {"a": 1}, "ResultPath": "$.last", "Next": "Use"},
            "Use": {"Type": "Pass", "Parameters": {"x.$": "$.last"}, "End": True},
        },
    }
    assert any("$.last does not resolve" in p for p in _check(definition))
    definition["States"]["Split"]["Default"] = "WithLast"
    assert _check(definition) == []
