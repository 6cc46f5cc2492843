"""Read, Write, Edit and MultiEdit: Claude Code's file tools over the Workspace port."""

from __future__ import annotations

import difflib
from typing import Any

from dexa.core.errors import ToolError
from dexa.core.ports import ToolSpec
from dexa.core.tools import ToolContext, ToolOutput

from . import fileio
from .notebook import render_notebook
from .validate import BaseTool, RerunOnRecover

DEFAULT_READ_LINES = 2000

_EDIT_ITEM = {
    "type": "object",
    "properties": {
        "old_string": {"type": "string", "description": "The text to replace"},
        "new_string": {"type": "string", "description": "The text to replace it with (must differ from old_string)"},
        "replace_all": {"type": "boolean", "default": False, "description": "Replace all occurrences (default false)"},
    },
    "required": ["old_string", "new_string"],
}


def apply_edit(content: str, old: str, new: str, replace_all: bool) -> tuple[str, int]:
    """The edited text and the 0-based line of the first change. Raises ToolError the model can act on."""
    if old == new:
        raise ToolError("No changes to make: old_string and new_string are exactly the same.")
    count = content.count(old)
    if count == 0 and "\r\n" in content and "\n" in old and "\r\n" not in old:
        # The model writes \n; the file uses CRLF. Match and keep the file's line endings.
        old, new = old.replace("\n", "\r\n"), new.replace("\n", "\r\n")
        count = content.count(old)
    if count == 0:
        raise ToolError(
            "String to replace not found in file. Make sure old_string matches the file exactly, including "
            f"whitespace and indentation (Read the file again if unsure).\nString: {fileio.excerpt(old)}"
        )
    if count > 1 and not replace_all:
        raise ToolError(
            f"Found {count} matches of the string to replace, but replace_all is false. To replace all occurrences, "
            "set replace_all to true. To replace only one occurrence, please provide more context to uniquely "
            f"identify the instance.\nString: {fileio.excerpt(old)}"
        )
    line = content.count("\n", 0, content.index(old))
    return (content.replace(old, new) if replace_all else content.replace(old, new, 1)), line


def unified_diff(path: str, before: str, after: str) -> str:
    a = [line if line.endswith("\n") else line + "\n" for line in before.splitlines(keepends=True)]
    b = [line if line.endswith("\n") else line + "\n" for line in after.splitlines(keepends=True)]
    return "".join(difflib.unified_diff(a, b, fromfile=f"a{path}", tofile=f"b{path}"))


class Read(RerunOnRecover, BaseTool):
    read_only = True
    spec = ToolSpec(
        name="Read",
        description=(
            "Reads a file from the workspace. file_path must be absolute. By default reads up to 2000 lines from the "
            "start; use offset (1-based line number) and limit for long files. Output is `cat -n` style: line "
            "number, tab, line content; lines over 2000 characters are cut. Jupyter notebooks (.ipynb) are shown "
            "cell by cell. Directories cannot be read: use Glob or `ls` through Bash. Read a file before you Edit or "
            "Write it."
        ),
        input_schema={
            "type": "object",
            "properties": {
                "file_path": {"type": "string", "description": "The absolute path to the file to read"},
                "offset": {"type": "number", "description": "The line number to start reading from (1-based)"},
                "limit": {"type": "number", "description": "The number of lines to read"},
                "pages": {"type": "string", "description": 'Page range for PDF files, e.g. "1-5" (unsupported)'},
            },
            "required": ["file_path"],
        },
    )

    async def call(self, tool_input: dict[str, Any], ctx: ToolContext) -> ToolOutput:
        path = fileio.require_absolute(tool_input["file_path"], ctx.cwd)
        if path.lower().endswith(".pdf"):
            raise ToolError(f"{path}: PDF files cannot be read by this workspace yet; try `pdftotext` through Bash.")
        text = await fileio.read_text(ctx.workspace, path)
        await fileio.record_read(ctx, path)
        if path.endswith(".ipynb"):
            rendered = render_notebook(text, path)
            return ToolOutput(content=rendered, data={"type": "notebook", "file": {"filePath": path}})
        lines = text.splitlines()
        total = len(lines)
        start = max(1, int(tool_input.get("offset") or 1))
        limit = int(tool_input.get("limit") or DEFAULT_READ_LINES)
        if limit <= 0:
            raise ToolError("`limit` must be a positive number of lines")
        file_info = {"filePath": path, "startLine": start, "totalLines": total, "numLines": 0}
        if total == 0:
            return ToolOutput(
                content="<system-reminder>Warning: the file exists but the contents are empty.</system-reminder>",
                data={"type": "text", "file": file_info},
            )
        if start > total:
            return ToolOutput(
                content=(
                    f"<system-reminder>Warning: the file exists but is shorter than the provided offset ({start}). "
                    f"The file has {total} lines.</system-reminder>"
                ),
                data={"type": "text", "file": file_info},
            )
        shown = lines[start - 1 : start - 1 + limit]
        body = fileio.number_lines(shown, start)
        end = start + len(shown) - 1
        if end < total:
            body += (
                f"\n\n(PARTIAL view: showing lines {start}-{end} of {total}. Use offset and limit to read other parts.)"
            )
        file_info["numLines"] = len(shown)
        return ToolOutput(content=await with_memory(ctx, body, path), data={"type": "text", "file": file_info})


async def with_memory(ctx: ToolContext, content: str, *paths: str) -> str:
    """`content` plus the reminder for subtree CLAUDE.md files and `paths:` rules that first cover one of `paths`.

    Claude Code attaches them after Read, Write, Edit and Bash reads such as `cat`; each loads once per session."""
    memory = ctx.services.get("memory")
    if memory is None:
        return content
    for path in paths:
        reminder = await memory.reminder_for(path, ctx.kv, ctx.session_id)
        if reminder:
            content += "\n\n" + reminder
    return content


class Write(BaseTool):
    spec = ToolSpec(
        name="Write",
        description=(
            "Writes a file to the workspace, replacing it entirely if it exists (parent directories are created). "
            "file_path must be absolute. An existing file must be Read first in this session, or the write is "
            "refused. Prefer Edit for changing part of an existing file."
        ),
        input_schema={
            "type": "object",
            "properties": {
                "file_path": {"type": "string", "description": "The absolute path to the file to write"},
                "content": {"type": "string", "description": "The content to write to the file"},
            },
            "required": ["file_path", "content"],
        },
    )

    async def call(self, tool_input: dict[str, Any], ctx: ToolContext) -> ToolOutput:
        path = fileio.require_absolute(tool_input["file_path"], ctx.cwd)
        content: str = tool_input["content"]
        ws = ctx.workspace
        before: str | None = None
        if await ws.exists(path):
            if await ws.is_dir(path):
                raise ToolError(f"EISDIR: {path} is a directory; give the path of a file to write.")
            await fileio.check_fresh(ctx, path)
            before = (await fileio.read_capped(ws, path)).decode("utf-8", errors="replace")
        await ws.write_bytes(path, content.encode())
        await fileio.record_read(ctx, path)
        if before is None:
            return ToolOutput(
                content=await with_memory(ctx, f"File created successfully at: {path}", path),
                data={"type": "create", "filePath": path, "content": content, "diff": unified_diff(path, "", content)},
            )
        return ToolOutput(
            content=await with_memory(ctx, f"The file {path} has been updated successfully.", path),
            data={"type": "update", "filePath": path, "content": content, "diff": unified_diff(path, before, content)},
        )


async def _load_for_edit(ctx: ToolContext, path: str, first_old: str) -> str | None:
    """Current content, or None when the edit creates a new file (empty old_string on a missing path)."""
    ws = ctx.workspace
    if not await ws.exists(path):
        if first_old == "":
            return None
        raise ToolError(f"File does not exist: {path}. To create a file use Write (or Edit with an empty old_string).")
    if await ws.is_dir(path):
        raise ToolError(f"EISDIR: {path} is a directory, not a file.")
    await fileio.check_fresh(ctx, path)
    return (await fileio.read_capped(ws, path)).decode("utf-8", errors="replace")


def _apply_all(before: str | None, edits: list[dict[str, Any]]) -> tuple[str, int]:
    content = before if before is not None else ""
    first_line = 0
    for i, edit in enumerate(edits):
        old, new = edit["old_string"], edit["new_string"]
        try:
            if old == "":
                if content:
                    raise ToolError("Cannot create new file - file already exists and is not empty.")
                content, line = new, 0
            else:
                content, line = apply_edit(content, old, new, bool(edit.get("replace_all", False)))
        except ToolError as exc:
            if len(edits) == 1:
                raise
            raise ToolError(f"Edit {i + 1} of {len(edits)} failed, no changes were written: {exc.message}") from exc
        first_line = line if i == 0 else min(first_line, line)
    return content, first_line


async def _edit(ctx: ToolContext, raw_path: str, edits: list[dict[str, Any]]) -> ToolOutput:
    path = fileio.require_absolute(raw_path, ctx.cwd)
    before = await _load_for_edit(ctx, path, edits[0]["old_string"])
    after, line = _apply_all(before, edits)
    await ctx.workspace.write_bytes(path, after.encode())
    await fileio.record_read(ctx, path)
    diff = unified_diff(path, before or "", after)
    shown = fileio.snippet(after, line, span=max(1, edits[-1]["new_string"].count("\n") + 1))
    verb = "created" if before is None else "updated"
    text = f"The file {path} has been {verb}. Here's the result of running `cat -n` on a snippet of the edited file:"
    return ToolOutput(
        content=await with_memory(ctx, f"{text}\n{shown}", path),
        data={"filePath": path, "edits": edits, "diff": diff, "snippet": shown},
    )


class Edit(BaseTool):
    spec = ToolSpec(
        name="Edit",
        description=(
            "Performs an exact string replacement in a file. Read the file first. old_string must match the file "
            "exactly (including indentation) and occur exactly once, unless replace_all is true; include enough "
            "surrounding lines to make it unique. new_string must differ from old_string. An empty old_string on a "
            "missing file creates it. Returns a snippet of the result; the unified diff is recorded."
        ),
        input_schema={
            "type": "object",
            "properties": {
                "file_path": {"type": "string", "description": "The absolute path to the file to modify"},
                **_EDIT_ITEM["properties"],
            },
            "required": ["file_path", "old_string", "new_string"],
        },
    )

    async def call(self, tool_input: dict[str, Any], ctx: ToolContext) -> ToolOutput:
        edit = {k: tool_input[k] for k in ("old_string", "new_string", "replace_all") if k in tool_input}
        return await _edit(ctx, tool_input["file_path"], [edit])


class MultiEdit(BaseTool):
    spec = ToolSpec(
        name="MultiEdit",
        description=(
            "Makes several exact string replacements in one file, applied in order, each on the result of the "
            "previous one. All or nothing: if any edit fails (not found, not unique) the file is left unchanged. "
            "Same rules as Edit for each item. Read the file first."
        ),
        input_schema={
            "type": "object",
            "properties": {
                "file_path": {"type": "string", "description": "The absolute path to the file to modify"},
                "edits": {
                    "type": "array",
                    "items": _EDIT_ITEM,
                    "minItems": 1,
                    "description": "Edits to apply sequentially",
                },
            },
            "required": ["file_path", "edits"],
        },
    )

    async def call(self, tool_input: dict[str, Any], ctx: ToolContext) -> ToolOutput:
        return await _edit(ctx, tool_input["file_path"], list(tool_input["edits"]))
