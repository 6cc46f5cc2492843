"""A quick yes to "does this tool input fit its schema?" without importing jsonschema.

jsonschema (with referencing, rpds and attrs) is about 0.1-0.2 s of import CPU, more than a short headless run
spends on all its validations. Tool schemas use a handful of keywords, so this checker answers True only when it
is sure the instance is valid under Draft 2020-12; anything it does not know (an unknown keyword, a float for an
integer, any failure) answers False and the caller asks jsonschema, which also words the error. A wrong False
costs an import; a wrong True would let bad input through, hence the narrow keyword set.
"""

from __future__ import annotations

from typing import Any

# Annotations: no effect on validity (format is annotation-only under Draft 2020-12 without a format checker).
_ANNOTATIONS = frozenset({"description", "title", "default", "examples", "$schema", "$comment", "format"})
_KNOWN = _ANNOTATIONS | {
    "type",
    "properties",
    "required",
    "additionalProperties",
    "enum",
    "const",
    "items",
    "minItems",
    "maxItems",
    "minLength",
    "maxLength",
}


def _is_type(instance: Any, name: str) -> bool:
    if name == "string":
        return isinstance(instance, str)
    if name == "boolean":
        return isinstance(instance, bool)
    if name == "integer":  # floats such as 1.0 are integers to jsonschema: left to it
        return isinstance(instance, int) and not isinstance(instance, bool)
    if name == "number":
        return isinstance(instance, (int, float)) and not isinstance(instance, bool)
    if name == "object":
        return isinstance(instance, dict)
    if name == "array":
        return isinstance(instance, list)
    if name == "null":
        return instance is None
    return False


def _same(a: Any, b: Any) -> bool:
    # JSON equality: True is not 1 (jsonschema's enum and const agree).
    return type(a) is type(b) and a == b if isinstance(a, bool) or isinstance(b, bool) else a == b


def surely_valid(schema: Any, instance: Any) -> bool:
    """True only when `instance` certainly satisfies `schema`; False means "ask jsonschema"."""
    if schema is True or schema == {}:
        return True
    if not isinstance(schema, dict) or not _KNOWN.issuperset(schema):
        return False
    kind = schema.get("type")
    if kind is not None:
        kinds = kind if isinstance(kind, list) else [kind]
        if not any(isinstance(k, str) and _is_type(instance, k) for k in kinds):
            return False
    if "enum" in schema and not any(_same(instance, v) for v in schema["enum"]):
        return False
    if "const" in schema and not _same(instance, schema["const"]):
        return False
    if isinstance(instance, str):
        length = len(instance)  # code points, as jsonschema counts
        if length < schema.get("minLength", 0) or length > schema.get("maxLength", length):
            return False
    if isinstance(instance, list):
        if len(instance) < schema.get("minItems", 0) or len(instance) > schema.get("maxItems", len(instance)):
            return False
        items = schema.get("items")
        if items is not None and not all(surely_valid(items, item) for item in instance):
            return False
    if isinstance(instance, dict):
        props = schema.get("properties", {})
        if not isinstance(props, dict) or any(key not in instance for key in schema.get("required", ())):
            return False
        extra = schema.get("additionalProperties", True)
        for key, value in instance.items():
            sub = props.get(key, extra)
            if sub is False or not surely_valid(sub, value):
                return False
    return True
