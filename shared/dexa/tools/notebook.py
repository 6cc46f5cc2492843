"""Jupyter notebooks: rendering for Read, and the NotebookEdit tool (replace / insert / delete a cell)."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

from dexa.core.errors import ToolError
from dexa.core.ports import ToolSpec
from dexa.core.tools import ToolContext, ToolOutput

from . import fileio
from .validate import BaseTool

_MAX_OUTPUT_CHARS = 2000


def _load(text: str, path: str) -> dict[str, Any]:
    try:
        nb = json.loads(text)
    except ValueError as exc:
        raise ToolError(f"{path} is not valid notebook JSON: {exc}") from exc
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise ToolError(f"{path} is not a Jupyter notebook (no `cells` list)")
    return nb


def _source(cell: dict[str, Any]) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else str(src)


def _outputs(cell: dict[str, Any]) -> str:
    parts: list[str] = []
    for out in cell.get("outputs") or []:
        if "text" in out:
            parts.append("".join(out["text"]) if isinstance(out["text"], list) else str(out["text"]))
        elif "data" in out and "text/plain" in out["data"]:
            value = out["data"]["text/plain"]
            parts.append("".join(value) if isinstance(value, list) else str(value))
        elif out.get("output_type") == "error":
            parts.append(f"{out.get('ename', 'Error')}: {out.get('evalue', '')}")
    text = "\n".join(parts)
    return text if len(text) <= _MAX_OUTPUT_CHARS else text[:_MAX_OUTPUT_CHARS] + "... [output truncated]"


def render_notebook(text: str, path: str) -> str:
    """Every cell with its id, type, source and text outputs, in order."""
    nb = _load(text, path)
    chunks: list[str] = []
    for i, cell in enumerate(nb["cells"]):
        cell_id = cell.get("id") or f"cell-{i}"
        chunks.append(f'<cell id="{cell_id}" index="{i}" type="{cell.get("cell_type", "code")}">\n{_source(cell)}')
        outputs = _outputs(cell)
        if outputs:
            chunks.append(f"<outputs>\n{outputs}\n</outputs>")
        chunks.append("</cell>")
    return "\n".join(chunks) if chunks else "<system-reminder>The notebook has no cells.</system-reminder>"


def _find(cells: list[dict[str, Any]], cell_id: str) -> int:
    for i, cell in enumerate(cells):
        if cell.get("id") == cell_id:
            return i
    match = re.fullmatch(r"(?:cell-)?(\d+)", cell_id)
    if match and int(match.group(1)) < len(cells):
        return int(match.group(1))
    known = [c.get("id") or f"cell-{i}" for i, c in enumerate(cells)][:20]
    raise ToolError(f"Cell {cell_id!r} not found in the notebook. Known cell ids: {known}")


def _new_cell(nb: dict[str, Any], cell_type: str, source: str) -> dict[str, Any]:
    cell: dict[str, Any] = {"cell_type": cell_type, "metadata": {}, "source": source.splitlines(keepends=True)}
    if cell_type == "code":
        cell["outputs"] = []
        cell["execution_count"] = None
    if (nb.get("nbformat"), nb.get("nbformat_minor", 0)) >= (4, 5):
        cell["id"] = uuid.uuid4().hex[:8]
    return cell


def edit_cells(nb: dict[str, Any], tool_input: dict[str, Any]) -> str:
    """Apply the edit in place; returns the affected cell id."""
    cells: list[dict[str, Any]] = nb["cells"]
    mode = tool_input.get("edit_mode", "replace")
    cell_id = tool_input.get("cell_id")
    cell_type = tool_input.get("cell_type")
    source: str = tool_input["new_source"]
    if mode == "insert":
        if cell_type is None:
            raise ToolError("`cell_type` (code or markdown) is required when edit_mode is insert")
        at = _find(cells, cell_id) + 1 if cell_id else 0
        cell = _new_cell(nb, cell_type, source)
        cells.insert(at, cell)
        return str(cell.get("id") or f"cell-{at}")
    if not cell_id:
        raise ToolError(f"`cell_id` is required when edit_mode is {mode}")
    index = _find(cells, cell_id)
    if mode == "delete":
        cells.pop(index)
        return cell_id
    cell = cells[index]
    cell["source"] = source.splitlines(keepends=True)
    if cell_type and cell_type != cell.get("cell_type"):
        cell["cell_type"] = cell_type
        if cell_type == "markdown":
            cell.pop("outputs", None)
            cell.pop("execution_count", None)
    if cell.get("cell_type") == "code":
        cell["outputs"] = []
        cell["execution_count"] = None
    return cell_id


class NotebookEdit(BaseTool):
    spec = ToolSpec(
        name="NotebookEdit",
        description=(
            "Edits a Jupyter notebook (.ipynb) cell. notebook_path must be absolute; Read the notebook first. "
            "edit_mode replace (default) sets the source of cell_id (outputs are cleared); insert adds a new cell "
            "after cell_id (or at the start without cell_id) and needs cell_type; delete removes cell_id. cell_id is "
            "the cell's id as shown by Read (cell-N, the 0-based index, works for notebooks without ids)."
        ),
        input_schema={
            "type": "object",
            "properties": {
                "notebook_path": {"type": "string", "description": "The absolute path to the notebook to edit"},
                "cell_id": {"type": "string", "description": "The id of the cell to edit / insert after"},
                "new_source": {"type": "string", "description": "The new source for the cell"},
                "cell_type": {"type": "string", "enum": ["code", "markdown"], "description": "The cell type"},
                "edit_mode": {
                    "type": "string",
                    "enum": ["replace", "insert", "delete"],
                    "description": "replace (default), insert or delete",
                },
            },
            "required": ["notebook_path", "new_source"],
        },
    )

    async def call(self, tool_input: dict[str, Any], ctx: ToolContext) -> ToolOutput:
        path = fileio.require_absolute(tool_input["notebook_path"], ctx.cwd, "notebook_path")
        if not path.endswith(".ipynb"):
            raise ToolError(f"{path} is not a notebook; use Edit for other files.")
        text = await fileio.read_text(ctx.workspace, path)
        await fileio.check_fresh(ctx, path)
        nb = _load(text, path)
        cell_id = edit_cells(nb, tool_input)
        await ctx.workspace.write_bytes(path, (json.dumps(nb, indent=1, ensure_ascii=False) + "\n").encode())
        await fileio.record_read(ctx, path)
        mode = tool_input.get("edit_mode", "replace")
        verb = {"replace": "Updated", "insert": "Inserted", "delete": "Deleted"}[mode]
        return ToolOutput(
            content=f"{verb} cell {cell_id} in {path}",
            data={"notebook_path": path, "cell_id": cell_id, "edit_mode": mode, "new_source": tool_input["new_source"]},
        )
