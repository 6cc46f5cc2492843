"""Registry, schemas, input validation and the error boundary shared by every code tool; TodoWrite/TodoRead."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dexa.core.errors import ConfigError
from dexa.core.tools import ToolContext, ToolOutput
from dexa.tools import builtin_tools, default_registry
from dexa.tools.todo import TodoRead, TodoWrite
from dexa.tools.validate import BaseTool

pytestmark = pytest.mark.anyio

READ_ONLY = {"Read", "Glob", "Grep", "TodoRead", "BashOutput", "WebFetch", "WebSearch"}


def test_builtin_tools_have_claude_code_names_and_read_only_flags() -> None:
    tools = {t.spec.name: t for t in builtin_tools()}
    assert set(tools) == {
        "Read", "Write", "Edit", "MultiEdit", "NotebookEdit", "Glob", "Grep", "Bash", "BashOutput",
        "KillShell", "WebFetch", "WebSearch", "TodoWrite", "TodoRead", "RunScript",
    }  # fmt: skip
    assert {name for name, t in tools.items() if t.read_only} == READ_ONLY


@pytest.mark.parametrize(
    ("name", "required"),
    [
        ("Read", ["file_path"]),
        ("Write", ["file_path", "content"]),
        ("Edit", ["file_path", "old_string", "new_string"]),
        ("MultiEdit", ["file_path", "edits"]),
        ("NotebookEdit", ["notebook_path", "new_source"]),
        ("Glob", ["pattern"]),
        ("Grep", ["pattern"]),
        ("Bash", ["command"]),
        ("WebFetch", ["url", "prompt"]),
        ("WebSearch", ["query"]),
        ("TodoWrite", ["todos"]),
        ("RunScript", ["language", "code"]),
    ],
)
def test_input_schemas_match_claude_code(name: str, required: list[str]) -> None:
    registry = default_registry()
    tool = registry.get(name)
    assert tool is not None
    schema = tool.spec.input_schema
    assert schema["type"] == "object" and schema.get("required", []) == required
    assert "anyOf" not in schema and "oneOf" not in schema  # the Messages API rejects them at the top level


def test_grep_and_bash_expose_claude_code_parameter_names() -> None:
    registry = default_registry()
    grep = registry.get("Grep")
    bash = registry.get("Bash")
    assert grep is not None and bash is not None
    assert {"-A", "-B", "-C", "-n", "-i", "output_mode", "head_limit", "multiline", "glob", "type"} <= set(
        grep.spec.input_schema["properties"]
    )
    assert {"timeout", "run_in_background", "description"} <= set(bash.spec.input_schema["properties"])


def test_default_registry_resolves_task_aliases() -> None:
    registry = default_registry(["Read", "TaskOutput", "TaskStop"])
    assert registry.names() == ["Read", "BashOutput", "KillShell"]
    assert "TaskOutput" in registry and "KillBash" in registry and "Bash" not in registry


def test_default_registry_rejects_unknown_names() -> None:
    with pytest.raises(ConfigError, match="Unknown built-in tool 'Nope'"):
        default_registry(["Nope"])


class Exploding(BaseTool):
    spec = default_registry().specs()[0]

    async def call(self, tool_input: dict[str, Any], ctx: ToolContext) -> ToolOutput:
        raise RuntimeError("boom")


async def test_unexpected_exceptions_become_error_results(ctx: ToolContext, root: Path) -> None:
    out = await Exploding().run({"file_path": str(root / "x")}, ctx)
    assert out.is_error and "internal error: RuntimeError: boom" in out.content


async def test_non_object_input_is_an_error(ctx: ToolContext) -> None:
    out = await TodoRead().run([], ctx)  # type: ignore[arg-type]
    assert out.is_error and "must be a JSON object" in out.content


async def test_todowrite_stores_the_list_and_emits_an_event(
    ctx: ToolContext, events: list[tuple[str, dict[str, Any]]]
) -> None:
    todos = [
        {"content": "Run tests", "status": "in_progress", "activeForm": "Running tests"},
        {"content": "Fix bug", "status": "pending", "activeForm": "Fixing bug"},
    ]
    out = await TodoWrite().run({"todos": todos}, ctx)
    assert not out.is_error and ctx.state.todos == todos
    assert events == [("todo.updated", {"todos": todos})]
    assert out.data == {"oldTodos": [], "newTodos": todos}
    read = await TodoRead().run({}, ctx)
    assert read.content == "1. [~] Run tests\n2. [ ] Fix bug"


async def test_todowrite_validates_items(ctx: ToolContext) -> None:
    bad_status = await TodoWrite().run({"todos": [{"content": "x", "status": "doing", "activeForm": "x"}]}, ctx)
    assert bad_status.is_error and "`todos.0.status` must be one of" in bad_status.content
    missing = await TodoWrite().run({"todos": [{"content": "x", "status": "pending"}]}, ctx)
    assert missing.is_error and "`todos.0.activeForm` is missing" in missing.content
    blank = await TodoWrite().run({"todos": [{"content": " ", "status": "pending", "activeForm": "x"}]}, ctx)
    assert blank.is_error and "non-blank" in blank.content
    assert ctx.state.todos == []
