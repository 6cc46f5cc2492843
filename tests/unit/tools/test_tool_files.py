"""Read, Write, Edit, MultiEdit and NotebookEdit over a real LocalSandbox's file operations."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from dexa.core.tools import ToolContext
from dexa.tools.files import Edit, MultiEdit, Read, Write
from dexa.tools.notebook import NotebookEdit

pytestmark = pytest.mark.anyio


async def test_read_numbers_lines_like_cat_n(ctx: ToolContext, root: Path) -> None:
    (root / "a.txt").write_text("alpha\nbeta\ngamma\n")
    out = await Read().run({"file_path": str(root / "a.txt")}, ctx)
    assert not out.is_error
    assert out.content == "     1\talpha\n     2\tbeta\n     3\tgamma"
    assert out.data["file"]["totalLines"] == 3
    assert str(root / "a.txt") in ctx.state.read_files


async def test_read_offset_and_limit_select_a_window_and_say_it_is_partial(ctx: ToolContext, root: Path) -> None:
    (root / "n.txt").write_text("".join(f"line{i}\n" for i in range(1, 11)))
    out = await Read().run({"file_path": str(root / "n.txt"), "offset": 4, "limit": 2}, ctx)
    assert out.content.splitlines()[:2] == ["     4\tline4", "     5\tline5"]
    assert "PARTIAL view: showing lines 4-5 of 10" in out.content


async def test_read_defaults_to_2000_lines_and_truncates_long_lines(ctx: ToolContext, root: Path) -> None:
    (root / "big.txt").write_text("x" * 2500 + "\n" + "".join(f"{i}\n" for i in range(2100)))
    out = await Read().run({"file_path": str(root / "big.txt")}, ctx)
    assert out.data["file"]["numLines"] == 2000
    first = out.content.splitlines()[0]
    assert first.startswith("     1\t" + "x" * 2000) and "line truncated, 2500 chars" in first


async def test_read_offset_past_the_end_warns_without_failing(ctx: ToolContext, root: Path) -> None:
    (root / "s.txt").write_text("one\n")
    out = await Read().run({"file_path": str(root / "s.txt"), "offset": 50}, ctx)
    assert not out.is_error and "shorter than the provided offset (50)" in out.content


async def test_read_missing_file_is_an_error_naming_it(ctx: ToolContext, root: Path) -> None:
    out = await Read().run({"file_path": str(root / "nope.py")}, ctx)
    assert out.is_error and f"File does not exist: {root / 'nope.py'}" in out.content


async def test_read_directory_is_an_error(ctx: ToolContext, root: Path) -> None:
    (root / "d").mkdir()
    out = await Read().run({"file_path": str(root / "d")}, ctx)
    assert out.is_error and "EISDIR" in out.content


async def test_read_relative_path_is_refused_with_the_absolute_suggestion(ctx: ToolContext, root: Path) -> None:
    out = await Read().run({"file_path": "a.txt"}, ctx)
    assert out.is_error and f"Did you mean {root / 'a.txt'}" in out.content


async def test_read_wrong_type_names_the_field(ctx: ToolContext, root: Path) -> None:
    out = await Read().run({"file_path": str(root / "a.txt"), "offset": "ten"}, ctx)
    assert out.is_error and "`offset` must be of type number" in out.content


async def test_read_binary_file_is_refused(ctx: ToolContext, root: Path) -> None:
    (root / "b.bin").write_bytes(b"\x00\x01\x02")
    out = await Read().run({"file_path": str(root / "b.bin")}, ctx)
    assert out.is_error and "binary file" in out.content


async def test_read_empty_file_warns(ctx: ToolContext, root: Path) -> None:
    (root / "e.txt").write_text("")
    out = await Read().run({"file_path": str(root / "e.txt")}, ctx)
    assert not out.is_error and "contents are empty" in out.content


async def test_write_creates_new_file_without_a_read(ctx: ToolContext, root: Path) -> None:
    out = await Write().run({"file_path": str(root / "sub" / "new.txt"), "content": "hi\n"}, ctx)
    assert not out.is_error and out.content.startswith("File created successfully")
    assert (root / "sub" / "new.txt").read_text() == "hi\n"


async def test_write_over_an_unread_file_is_refused(ctx: ToolContext, root: Path) -> None:
    (root / "f.txt").write_text("old")
    out = await Write().run({"file_path": str(root / "f.txt"), "content": "new"}, ctx)
    assert out.is_error and "has not been read yet" in out.content
    assert (root / "f.txt").read_text() == "old"


async def test_write_after_read_replaces_and_reports_a_diff(ctx: ToolContext, root: Path) -> None:
    (root / "f.txt").write_text("old\n")
    await Read().run({"file_path": str(root / "f.txt")}, ctx)
    out = await Write().run({"file_path": str(root / "f.txt"), "content": "new\n"}, ctx)
    assert not out.is_error and (root / "f.txt").read_text() == "new\n"
    assert "-old" in out.data["diff"] and "+new" in out.data["diff"]


async def test_write_refuses_a_file_changed_since_it_was_read(ctx: ToolContext, root: Path) -> None:
    path = root / "f.txt"
    path.write_text("v1")
    await Read().run({"file_path": str(path)}, ctx)
    path.write_text("v2 by someone else")
    os.utime(path, (1e10, 1e10))
    out = await Write().run({"file_path": str(path), "content": "v3"}, ctx)
    assert out.is_error and "modified since read" in out.content


async def test_write_requires_an_absolute_path(ctx: ToolContext) -> None:
    out = await Write().run({"file_path": "rel.txt", "content": "x"}, ctx)
    assert out.is_error and "absolute path" in out.content


async def test_write_missing_content_names_the_field(ctx: ToolContext, root: Path) -> None:
    out = await Write().run({"file_path": str(root / "x")}, ctx)
    assert out.is_error and "`content` is missing" in out.content


async def _read(ctx: ToolContext, path: Path) -> None:
    assert not (await Read().run({"file_path": str(path)}, ctx)).is_error


async def test_edit_replaces_a_unique_string_and_returns_diff_and_snippet(ctx: ToolContext, root: Path) -> None:
    path = root / "m.py"
    path.write_text("def f():\n    return 1\n")
    await _read(ctx, path)
    out = await Edit().run({"file_path": str(path), "old_string": "return 1", "new_string": "return 2"}, ctx)
    assert not out.is_error, out.content
    assert path.read_text() == "def f():\n    return 2\n"
    assert "-    return 1" in out.data["diff"] and "+    return 2" in out.data["diff"]
    assert "     2\t    return 2" in out.content


async def test_edit_ambiguous_string_is_refused_with_the_count(ctx: ToolContext, root: Path) -> None:
    path = root / "m.py"
    path.write_text("x = 1\nx = 1\n")
    await _read(ctx, path)
    out = await Edit().run({"file_path": str(path), "old_string": "x = 1", "new_string": "x = 2"}, ctx)
    assert out.is_error and "Found 2 matches" in out.content and "replace_all" in out.content
    assert path.read_text() == "x = 1\nx = 1\n"


async def test_edit_replace_all_changes_every_occurrence(ctx: ToolContext, root: Path) -> None:
    path = root / "m.py"
    path.write_text("x = 1\nx = 1\n")
    await _read(ctx, path)
    out = await Edit().run(
        {"file_path": str(path), "old_string": "x = 1", "new_string": "y = 1", "replace_all": True}, ctx
    )
    assert not out.is_error and path.read_text() == "y = 1\ny = 1\n"


async def test_edit_not_found_quotes_an_excerpt(ctx: ToolContext, root: Path) -> None:
    path = root / "m.py"
    path.write_text("abc\n")
    await _read(ctx, path)
    out = await Edit().run({"file_path": str(path), "old_string": "zzz" * 100, "new_string": "q"}, ctx)
    assert out.is_error and "String to replace not found" in out.content and "more chars]" in out.content


async def test_edit_identical_strings_are_refused(ctx: ToolContext, root: Path) -> None:
    path = root / "m.py"
    path.write_text("abc\n")
    await _read(ctx, path)
    out = await Edit().run({"file_path": str(path), "old_string": "abc", "new_string": "abc"}, ctx)
    assert out.is_error and "exactly the same" in out.content


async def test_edit_requires_a_prior_read(ctx: ToolContext, root: Path) -> None:
    (root / "m.py").write_text("abc\n")
    out = await Edit().run({"file_path": str(root / "m.py"), "old_string": "abc", "new_string": "d"}, ctx)
    assert out.is_error and "has not been read yet" in out.content


async def test_edit_missing_file_is_an_error_but_empty_old_string_creates_it(ctx: ToolContext, root: Path) -> None:
    missing = await Edit().run({"file_path": str(root / "n.py"), "old_string": "a", "new_string": "b"}, ctx)
    assert missing.is_error and "File does not exist" in missing.content
    made = await Edit().run({"file_path": str(root / "n.py"), "old_string": "", "new_string": "print(1)\n"}, ctx)
    assert not made.is_error and (root / "n.py").read_text() == "print(1)\n"


async def test_edit_keeps_crlf_line_endings(ctx: ToolContext, root: Path) -> None:
    path = root / "w.txt"
    path.write_bytes(b"one\r\ntwo\r\n")
    await _read(ctx, path)
    out = await Edit().run({"file_path": str(path), "old_string": "one\ntwo", "new_string": "1\n2"}, ctx)
    assert not out.is_error and path.read_bytes() == b"1\r\n2\r\n"


async def test_edit_with_wrong_types_names_the_field(ctx: ToolContext, root: Path) -> None:
    out = await Edit().run({"file_path": str(root / "m.py"), "old_string": 3, "new_string": "x"}, ctx)
    assert out.is_error and "`old_string` must be of type string" in out.content


async def test_multiedit_applies_edits_in_sequence(ctx: ToolContext, root: Path) -> None:
    path = root / "m.py"
    path.write_text("a = 1\nb = 2\n")
    await _read(ctx, path)
    edits = [{"old_string": "a = 1", "new_string": "a = 10"}, {"old_string": "a = 10\nb", "new_string": "a = 10\nc"}]
    out = await MultiEdit().run({"file_path": str(path), "edits": edits}, ctx)
    assert not out.is_error, out.content
    assert path.read_text() == "a = 10\nc = 2\n"


async def test_multiedit_is_all_or_nothing(ctx: ToolContext, root: Path) -> None:
    path = root / "m.py"
    path.write_text("a = 1\nb = 2\n")
    await _read(ctx, path)
    edits = [{"old_string": "a = 1", "new_string": "a = 10"}, {"old_string": "missing", "new_string": "x"}]
    out = await MultiEdit().run({"file_path": str(path), "edits": edits}, ctx)
    assert out.is_error and "Edit 2 of 2 failed, no changes were written" in out.content
    assert path.read_text() == "a = 1\nb = 2\n"


async def test_multiedit_needs_at_least_one_edit(ctx: ToolContext, root: Path) -> None:
    out = await MultiEdit().run({"file_path": str(root / "m.py"), "edits": []}, ctx)
    assert out.is_error and "`edits`" in out.content


def _notebook(root: Path) -> Path:
    nb = {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {},
        "cells": [
            {"id": "c1", "cell_type": "markdown", "metadata": {}, "source": ["# Title\n"]},
            {
                "id": "c2",
                "cell_type": "code",
                "metadata": {},
                "source": ["print(1)\n"],
                "outputs": [{"output_type": "stream", "name": "stdout", "text": ["1\n"]}],
                "execution_count": 1,
            },
        ],
    }
    path = root / "n.ipynb"
    path.write_text(json.dumps(nb))
    return path


async def test_read_renders_notebook_cells_with_outputs(ctx: ToolContext, root: Path) -> None:
    out = await Read().run({"file_path": str(_notebook(root))}, ctx)
    assert '<cell id="c2" index="1" type="code">' in out.content and "print(1)" in out.content
    assert "<outputs>\n1\n\n</outputs>" in out.content or "<outputs>\n1\n</outputs>" in out.content


async def test_notebookedit_replaces_inserts_and_deletes_cells(ctx: ToolContext, root: Path) -> None:
    path = _notebook(root)
    await _read(ctx, path)
    replaced = await NotebookEdit().run({"notebook_path": str(path), "cell_id": "c2", "new_source": "print(2)"}, ctx)
    assert not replaced.is_error, replaced.content
    cells = json.loads(path.read_text())["cells"]
    assert cells[1]["source"] == ["print(2)"] and cells[1]["outputs"] == []
    inserted = await NotebookEdit().run(
        {
            "notebook_path": str(path),
            "cell_id": "c1",
            "new_source": "x = 1",
            "cell_type": "code",
            "edit_mode": "insert",
        },
        ctx,
    )
    assert not inserted.is_error
    cells = json.loads(path.read_text())["cells"]
    assert [c["cell_type"] for c in cells] == ["markdown", "code", "code"] and cells[1]["source"] == ["x = 1"]
    deleted = await NotebookEdit().run(
        {"notebook_path": str(path), "cell_id": "c1", "new_source": "", "edit_mode": "delete"}, ctx
    )
    assert not deleted.is_error
    assert len(json.loads(path.read_text())["cells"]) == 2


async def test_notebookedit_errors_are_actionable(ctx: ToolContext, root: Path) -> None:
    path = _notebook(root)
    await _read(ctx, path)
    unknown = await NotebookEdit().run({"notebook_path": str(path), "cell_id": "zz", "new_source": "x"}, ctx)
    assert unknown.is_error and "Cell 'zz' not found" in unknown.content and "c1" in unknown.content
    no_type = await NotebookEdit().run({"notebook_path": str(path), "new_source": "x", "edit_mode": "insert"}, ctx)
    assert no_type.is_error and "cell_type" in no_type.content
    bad_mode = await NotebookEdit().run({"notebook_path": str(path), "new_source": "x", "edit_mode": "move"}, ctx)
    assert bad_mode.is_error and "`edit_mode` must be one of" in bad_mode.content
