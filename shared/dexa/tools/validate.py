"""Input validation and the error boundary every code tool shares.

A tool never raises into the turn: bad input, a missing file or a sandbox refusal becomes an `is_error`
ToolOutput whose message tells the model what to change. Only cancellation propagates.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from dexa.core.errors import DexaError, SandboxError, ToolError
from dexa.core.ports import ToolSpec
from dexa.core.tools import ToolContext, ToolOutput
from dexa.tools.schema_check import surely_valid

if TYPE_CHECKING:  # imported on the first input schema_check cannot vouch for (about 0.1-0.2 s of CPU)
    import jsonschema
    from jsonschema import Draft202012Validator

logger = logging.getLogger(__name__)

_JSON_TYPES = {
    str: "string",
    bool: "boolean",
    int: "integer",
    float: "number",
    list: "array",
    dict: "object",
    type(None): "null",
}


def error(message: str, **data: Any) -> ToolOutput:
    return ToolOutput(content=message, is_error=True, data=dict(data))


_validators: dict[int, tuple[ToolSpec, Draft202012Validator]] = {}


def _validator(spec: ToolSpec) -> Draft202012Validator:
    # Keyed by identity (specs hold dicts, so they are unhashable); the spec is kept so the id stays unique.
    cached = _validators.get(id(spec))
    if cached is None or cached[0] is not spec:
        from jsonschema import Draft202012Validator

        cached = (spec, Draft202012Validator(spec.input_schema))
        _validators[id(spec)] = cached
    return cached[1]


def _describe(err: jsonschema.ValidationError, tool: str) -> str:
    where = ".".join(str(p) for p in err.absolute_path)
    field = f"`{where}`" if where else "the input"
    if err.validator == "required":
        missing = err.message.split("'")[1] if "'" in err.message else err.message
        return f"{tool}: the required parameter `{where + '.' if where else ''}{missing}` is missing"
    if err.validator == "type":
        got = _JSON_TYPES.get(type(err.instance), type(err.instance).__name__)
        return f"{tool}: {field} must be of type {err.validator_value} but got {got} ({err.instance!r:.80})"
    if err.validator == "enum":
        return f"{tool}: {field} must be one of {err.validator_value}, got {err.instance!r:.80}"
    return f"{tool}: {field} is invalid: {err.message}"


def check_input(spec: ToolSpec, tool_input: Any) -> ToolOutput | None:
    """None when `tool_input` fits the spec's JSON schema, else an is_error output naming the field."""
    if not isinstance(tool_input, dict):
        return error(f"{spec.name}: input must be a JSON object, got {type(tool_input).__name__}")
    try:
        if surely_valid(spec.input_schema, tool_input):
            return None
    except (TypeError, ValueError):  # a schema value of an odd type: jsonschema judges (and reports) it
        pass
    validator = _validator(spec)
    errors = sorted(validator.iter_errors(tool_input), key=lambda e: (len(e.absolute_path), str(e.absolute_path)))
    if not errors:
        return None
    messages = [_describe(e, spec.name) for e in errors[:3]]
    return error("InputValidationError: " + "; ".join(messages), validation_errors=messages)


class RerunOnRecover:
    """For idempotent tools: a call found `running` after a crash is simply run again.

    The turn engine calls `recover(input, ctx)` for such a call when the tool has it; tools without it are
    reported to the model as interrupted instead (the safe default for edits).
    """

    async def recover(self, tool_input: dict[str, Any], ctx: ToolContext) -> ToolOutput | None:
        return await self.run(tool_input, ctx)  # type: ignore[attr-defined]


class BaseTool:
    """Validates input, runs `call`, and turns every expected failure into an is_error result."""

    spec: ToolSpec
    read_only: bool = False

    async def call(self, tool_input: dict[str, Any], ctx: ToolContext) -> ToolOutput:
        raise NotImplementedError

    async def run(self, tool_input: dict[str, Any], ctx: ToolContext) -> ToolOutput:
        problem = check_input(self.spec, tool_input)
        if problem is not None:
            return problem
        try:
            return await self.call(tool_input, ctx)
        except asyncio.CancelledError:
            raise
        except (ToolError, SandboxError) as exc:
            return error(exc.message or str(exc), code=exc.code)
        except DexaError as exc:
            return error(f"{self.spec.name} failed: {exc.message or exc}", code=exc.code)
        except FileNotFoundError as exc:
            return error(f"File does not exist: {exc.filename or exc}")
        except IsADirectoryError as exc:
            return error(f"EISDIR: {exc.filename or exc} is a directory, not a file")
        except NotADirectoryError as exc:
            return error(f"ENOTDIR: a component of {exc.filename or exc} is not a directory")
        except PermissionError as exc:
            return error(f"Permission denied: {exc.filename or exc}")
        except OSError as exc:
            return error(f"{self.spec.name} failed: {exc.strerror or exc} ({exc.filename or ''})")
        except Exception as exc:
            # The turn must survive a tool bug; the traceback goes to the log, a short message to the model.
            logger.exception("tool %s crashed", self.spec.name)
            return error(f"{self.spec.name} failed with an internal error: {type(exc).__name__}: {exc}")
