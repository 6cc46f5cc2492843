"""A static check of a state machine for what moto tolerates but Step Functions rejects at run time.

moto's parser lets a Catch handle `States.Runtime` and runs a state whose JSONPath names a field its input lacks
(the Map item that read `$.calls_base` from an item carrying no such field failed every item on AWS, while moto
quietly caught it). This walks the machine, infers which fields each state's input is guaranteed to carry, and
reports every reference that can not resolve, plus Catch/Retry on errors AWS never lets them see, and JSONata or
`Assign` (which moto can not execute, so no test would cover them).

Shapes: a dict of guaranteed fields, or OPAQUE where the content is unknown (a Lambda's Payload, an array):
anything below OPAQUE is accepted, so the check only reports what it can prove. A state reached from several
places gets the fields all of them carry. Pure stdlib: tests and the stacks may import it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

OPAQUE = "*"
Shape = Any  # dict[str, Shape] | OPAQUE
# Step Functions runs these past every Catch and Retry (States.ALL included).
UNCATCHABLE = ("States.Runtime", "States.DataLimitExceeded")
_JSONATA_FIELDS = ("Assign", "Arguments", "Output")
_PATH = re.compile(r"(?<![\w$])\$(?:\.[A-Za-z_][\w-]*|\[\d+\])*")
_STEP = re.compile(r"\.([A-Za-z_][\w-]*)|\[(\d+)\]")
_CONTEXT_ROOTS = ("Execution", "State", "StateMachine", "Task")
_LAMBDA_INVOKE = "arn:aws:states:::lambda:invoke"


def _meet(a: Shape, b: Shape) -> Shape:
    """What both shapes guarantee."""
    if a == OPAQUE or b == OPAQUE:
        return OPAQUE
    return {k: _meet(a[k], b[k]) for k in a if k in b}


def _steps(path: str) -> list[str]:
    return [name or f"[{index}]" for name, index in _STEP.findall(path[1:])]


def _resolve(shape: Shape, path: str) -> Shape | None:
    """The shape at a `$...` path, or None when the path provably does not resolve."""
    for step in _steps(path):
        if shape == OPAQUE:
            return OPAQUE
        if step.startswith("["):
            return OPAQUE  # arrays are not tracked
        if step not in shape:
            return None
        shape = shape[step]
    return shape


def _set(shape: Shape, path: str, value: Shape) -> Shape:
    """ResultPath: `value` written at `path` into a copy of `shape`."""
    steps = _steps(path)
    if not steps:
        return value
    if shape == OPAQUE:
        return OPAQUE
    out = dict(shape)
    head, rest = steps[0], "$" + "".join(f".{s}" for s in steps[1:])
    out[head] = _set(out.get(head, {}), rest, value) if len(steps) > 1 else value
    return out


class _Checker:
    def __init__(self) -> None:
        self.problems: list[str] = []

    def ref(self, where: str, shape: Shape, path: str, *, in_map_item: bool = False) -> Shape:
        if path.startswith("$$"):
            root = path[3:].split(".")[0]
            if root == "Map" and not in_map_item:
                self.problems.append(f"{where}: {path} is only defined in a Map's ItemSelector")
            elif root not in (*_CONTEXT_ROOTS, "Map"):
                self.problems.append(f"{where}: unknown context object path {path}")
            return OPAQUE
        found = _resolve(shape, path)
        if found is None:
            self.problems.append(f"{where}: {path} does not resolve; the state's input carries {_fields(shape)}")
            return OPAQUE
        return found

    def template(self, where: str, tpl: Any, shape: Shape, *, in_map_item: bool = False) -> Shape:
        """Parameters / ResultSelector / ItemSelector: check every path, return the shape it builds."""
        if not isinstance(tpl, Mapping):
            return OPAQUE
        out: dict[str, Shape] = {}
        for key, value in tpl.items():  # pyright: ignore[reportUnknownVariableType]
            name = str(key)  # pyright: ignore[reportUnknownArgumentType]
            if name.endswith(".$"):
                expr = str(value)  # pyright: ignore[reportUnknownArgumentType]
                if expr.startswith("$"):
                    out[name[:-2]] = self.ref(f"{where}.{name}", shape, expr, in_map_item=in_map_item)
                else:  # an intrinsic function: check the paths among its arguments
                    for path in _PATH.findall(expr.replace("$$", "\0")):
                        self.ref(f"{where}.{name}", shape, path, in_map_item=in_map_item)
                    out[name[:-2]] = OPAQUE
            else:
                nested = self.template(f"{where}.{name}", value, shape, in_map_item=in_map_item)
                out[name] = nested if isinstance(value, Mapping) else OPAQUE
        return out

    def errors(self, where: str, blocks: Any) -> None:
        for block in blocks or []:
            for name in block.get("ErrorEquals", []):
                if name in UNCATCHABLE:
                    self.problems.append(f"{where}: {name} can not be caught or retried on AWS")

    def choice_rules(self, where: str, rules: Any, shape: Shape) -> None:
        for rule in rules or []:
            for combinator in ("And", "Or"):
                self.choice_rules(where, rule.get(combinator), shape)
            if "Not" in rule:
                self.choice_rules(where, [rule["Not"]], shape)
            if "Variable" in rule and "IsPresent" not in rule:  # a missing Variable is States.Runtime on AWS
                self.ref(f"{where}.Variable", shape, rule["Variable"])

    def machine(self, where: str, definition: Mapping[str, Any], start_shape: Shape) -> None:
        if definition.get("QueryLanguage", "JSONPath") != "JSONPath":
            self.problems.append(f"{where}: QueryLanguage {definition['QueryLanguage']} (moto runs JSONPath only)")
        states: Mapping[str, Any] = definition.get("States", {})
        inputs: dict[str, Shape] = {}
        work: list[tuple[str, Shape]] = [(definition["StartAt"], start_shape)]
        while work:
            name, shape = work.pop()
            merged = _meet(inputs[name], shape) if name in inputs else shape
            if name in inputs and merged == inputs[name]:
                continue
            inputs[name] = merged
            for succ, out in self.outputs(f"{where}/{name}", states[name], merged, report=False):
                work.append((succ, out))
        for name, shape in inputs.items():  # report once per state, on its final (weakest) input
            self.outputs(f"{where}/{name}", states[name], shape, report=True)

    def outputs(self, where: str, state: Mapping[str, Any], shape: Shape, *, report: bool) -> list[tuple[str, Shape]]:
        """(successor, its input) pairs; with `report` the problems found on the way are kept."""
        saved = self.problems
        if not report:
            self.problems = []
        try:
            return self._outputs(where, state, shape)
        finally:
            if not report:
                self.problems = saved

    def _outputs(self, where: str, state: Mapping[str, Any], shape: Shape) -> list[tuple[str, Shape]]:
        for field in _JSONATA_FIELDS:
            if field in state:
                self.problems.append(f"{where}: uses {field} (JSONata/variables; moto can not run it)")
        if state.get("QueryLanguage", "JSONPath") != "JSONPath":
            self.problems.append(f"{where}: QueryLanguage {state['QueryLanguage']}")
        kind = state["Type"]
        self.errors(f"{where}.Retry", state.get("Retry"))
        self.errors(f"{where}.Catch", state.get("Catch"))
        if kind == "Choice":
            self.choice_rules(f"{where}.Choices", state.get("Choices"), shape)
            nexts = [r["Next"] for r in state.get("Choices", [])] + [state[k] for k in ("Default",) if k in state]
            return [(n, shape) for n in nexts]
        if kind in ("Succeed", "Fail"):
            return []
        effective = self.ref(f"{where}.InputPath", shape, state.get("InputPath", "$"))
        result: Shape = OPAQUE
        if kind == "Pass":
            result = (
                self.template(f"{where}.Parameters", state["Parameters"], effective)
                if "Parameters" in state
                else (OPAQUE if "Result" in state else effective)
            )
        elif kind == "Task":
            if "Parameters" in state:
                self.template(f"{where}.Parameters", state["Parameters"], effective)
            if state.get("Resource") == _LAMBDA_INVOKE:
                result = {"Payload": OPAQUE, "StatusCode": OPAQUE, "ExecutedVersion": OPAQUE}
        elif kind == "Map":
            items = state.get("ItemsPath", "$")
            self.ref(f"{where}.ItemsPath", effective, items)
            selector = state.get("ItemSelector", state.get("Parameters"))
            item = self.template(f"{where}.ItemSelector", selector, effective, in_map_item=True) if selector else OPAQUE
            processor = state.get("ItemProcessor") or state.get("Iterator") or {}
            self.machine(f"{where}.ItemProcessor", processor, item)
        elif kind == "Parallel":
            for i, branch in enumerate(state.get("Branches", [])):
                self.machine(f"{where}.Branches[{i}]", branch, effective)
        if "ResultSelector" in state:
            result = self.template(f"{where}.ResultSelector", state["ResultSelector"], result)
        out = _apply_result(shape, state, result)
        if "OutputPath" in state:
            out = self.ref(f"{where}.OutputPath", out, state["OutputPath"])
        pairs = [] if state.get("End") else [(state["Next"], out)]
        for catcher in state.get("Catch", []):
            pairs.append((catcher["Next"], _apply_result(shape, catcher, {"Error": OPAQUE, "Cause": OPAQUE})))
        return pairs


def _apply_result(shape: Shape, state: Mapping[str, Any], result: Shape) -> Shape:
    if "ResultPath" in state and state["ResultPath"] is None:
        return shape
    return _set(shape, state.get("ResultPath", "$"), result)


def _fields(shape: Shape) -> str:
    return "anything" if shape == OPAQUE else "{" + ", ".join(sorted(shape)) + "}"


def check_definition(definition: Mapping[str, Any], *, input_fields: tuple[str, ...]) -> list[str]:
    """Problems found in `definition` (empty when none) for executions started with `input_fields`."""
    checker = _Checker()
    checker.machine("", definition, dict.fromkeys(input_fields, OPAQUE))
    return sorted(set(checker.problems))
