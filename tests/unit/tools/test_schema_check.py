"""schema_check.surely_valid answers True only for inputs jsonschema accepts, and does answer True for the
ordinary inputs of the built-in tools (so a headless run never imports jsonschema); a bad input still gets
jsonschema's wording through check_input."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from dexa.core.ports import ToolSpec
from dexa.tools.registry import builtin_tools
from dexa.tools.schema_check import surely_valid
from dexa.tools.validate import check_input

SPECS = [tool.spec for tool in builtin_tools()]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.floats(-5, 5, allow_nan=False) | st.text(max_size=4),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)
SCHEMAS: list[Any] = [
    {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"], "additionalProperties": False},
    {"type": ["string", "null"], "minLength": 2, "maxLength": 3},
    {"enum": [1, True, "x", None]},
    {"const": False},
    {"type": "array", "items": {"type": "number"}, "minItems": 1, "maxItems": 2},
    {"type": "object", "additionalProperties": {"type": "boolean"}},
    {"type": "string", "pattern": "^a"},  # unknown keyword: always left to jsonschema
]


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(SCHEMAS), json_values)
def test_a_yes_is_never_wrong_on_small_schemas(schema: Any, instance: Any) -> None:
    if surely_valid(schema, instance):
        assert not list(Draft202012Validator(schema).iter_errors(instance)), (schema, instance)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(SPECS), st.dictionaries(st.sampled_from(["command", "file_path", "pattern", "x"]), json_values))
def test_a_yes_is_never_wrong_on_the_builtin_tools(spec: ToolSpec, instance: dict[str, Any]) -> None:
    if surely_valid(spec.input_schema, instance):
        assert not list(Draft202012Validator(spec.input_schema).iter_errors(instance)), (spec.name, instance)


def test_ordinary_inputs_pass_without_jsonschema_and_bad_ones_get_its_message() -> None:
    code = """
import sys
from dexa.tools.registry import builtin_tools
from dexa.tools.validate import check_input
specs = {t.spec.name: t.spec for t in builtin_tools()}
for name, tool_input in [("Bash", {"command": "ls", "timeout": 1000}), ("Read", {"file_path": "/a", "offset": 1}),
                         ("Grep", {"pattern": "x", "output_mode": "content", "-n": True}),
                         ("Edit", {"file_path": "/a", "old_string": "a", "new_string": "b"})]:
    assert check_input(specs[name], tool_input) is None, name
print("jsonschema" in sys.modules)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False", "a valid built-in tool input imported jsonschema"
    bash = next(spec for spec in SPECS if spec.name == "Bash")
    problem = check_input(bash, {"command": 3})
    assert problem is not None and problem.is_error
    assert "`command` must be of type string but got integer" in str(problem.content)
