"""Glob and Grep over a LocalSandbox, plus the glob translation they share."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from dexa.core.errors import ConfigError
from dexa.core.tools import ToolContext
from dexa.memory.globs import GlobSet
from dexa.tools.globbing import compile_glob, split_absolute
from dexa.tools.search import Glob, Grep

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["ripgrep", "python"], autouse=True)
def engine(request: pytest.FixtureRequest) -> str:
    """Every Grep test runs on both engines: rg in the workspace, and the walk-and-read fallback without it."""
    if request.param == "ripgrep" and shutil.which("rg") is None:
        pytest.skip("ripgrep is not installed (apt-get install ripgrep)")
    return str(request.param)


@pytest.fixture(autouse=True)
def _choose_engine(engine: str, ctx: ToolContext) -> None:
    ctx.services["ripgrep"] = engine == "ripgrep"


def test_glob_keeps_single_star_within_a_directory() -> None:
    assert compile_glob("*.py").match("a.py")
    assert not compile_glob("*.py").match("pkg/a.py")
    assert compile_glob("**/*.py").match("a.py") and compile_glob("**/*.py").match("pkg/sub/a.py")
    assert compile_glob("src/**").match("src/x/y.ts")
    assert compile_glob("file?.[ch]").match("file1.c") and not compile_glob("file?.[!ch]").match("file1.c")
    assert not compile_glob("a**b").match("ax/yb")  # `**` spans directories only as a whole segment
    assert compile_glob("*").match(".env") and compile_glob("**/*.md").match(".claude/x.md")
    assert compile_glob("*.PY", ignore_case=True).match("a.py") and not compile_glob("*.PY").match("a.py")


def test_braces_expand_including_nested_ones_within_a_budget() -> None:
    assert compile_glob("a.{ts,tsx}").match("a.tsx")
    nested = compile_glob("{a,b{1,2}}.x")
    assert all(nested.match(p) for p in ("a.x", "b1.x", "b2.x")) and not nested.match("b.x")
    assert compile_glob("{single}").match("{single}")
    with pytest.raises(ConfigError, match="1000"):
        compile_glob("{a,b}" * 11)  # 2,048 patterns


@pytest.mark.parametrize(
    ("pattern", "path"),
    [
        ("*.md", "README.md"),
        ("*.md", "docs/README.md"),
        ("src/**/*.{ts,tsx}", "src/a/b.tsx"),
        ("src/**/*.{ts,tsx}", "src/b.ts"),
        ("src/**/*.{ts,tsx}", "lib/b.ts"),
        ("**/test_*.py", "tests/unit/test_x.py"),
        ("a**b", "ax/yb"),
        ("[!a]*.py", "b.py"),
        ("**", ".github/workflows/ci.yml"),
    ],
)
def test_memory_rules_and_the_glob_tool_read_a_pattern_alike(pattern: str, path: str) -> None:
    assert GlobSet.compile([pattern]).matches(path) is compile_glob(pattern).match(path)


def test_absolute_patterns_split_into_base_and_rest() -> None:
    assert split_absolute("/ws/src/**/*.py") == ("/ws/src", "**/*.py")


def _tree(root: Path) -> None:
    for rel, age in (("a.py", 300), ("pkg/b.py", 100), ("pkg/c.txt", 50), ("pkg/deep/d.py", 200), (".git/x.py", 10)):
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"# {rel}\nimport os\nvalue = 1\n")
        os.utime(path, (1_700_000_000 - age, 1_700_000_000 - age))


async def test_glob_finds_files_newest_first_and_skips_git(ctx: ToolContext, root: Path) -> None:
    _tree(root)
    out = await Glob().run({"pattern": "**/*.py"}, ctx)
    assert out.content.splitlines() == [str(root / "pkg/b.py"), str(root / "pkg/deep/d.py"), str(root / "a.py")]


async def test_glob_with_path_and_absolute_pattern(ctx: ToolContext, root: Path) -> None:
    _tree(root)
    by_path = await Glob().run({"pattern": "*.txt", "path": str(root / "pkg")}, ctx)
    assert by_path.content == str(root / "pkg/c.txt")
    absolute = await Glob().run({"pattern": f"{root}/pkg/*.{{py,txt}}"}, ctx)
    assert sorted(absolute.data["filenames"]) == [str(root / "pkg/b.py"), str(root / "pkg/c.txt")]


async def test_glob_caps_results_at_100_with_a_notice(ctx: ToolContext, root: Path) -> None:
    for i in range(120):
        (root / f"f{i}.txt").write_text("x")
    out = await Glob().run({"pattern": "*.txt"}, ctx)
    assert out.data["numFiles"] == 100 and out.data["truncated"] and "Results are truncated" in out.content


async def test_glob_no_match_and_missing_directory(ctx: ToolContext, root: Path) -> None:
    assert (await Glob().run({"pattern": "*.rs"}, ctx)).content == "No files found"
    missing = await Glob().run({"pattern": "*", "path": str(root / "nope")}, ctx)
    assert missing.is_error and "Directory does not exist" in missing.content


async def test_glob_outside_the_workspace_is_refused(ctx: ToolContext) -> None:
    out = await Glob().run({"pattern": "*", "path": "/etc"}, ctx)
    assert out.is_error and "outside the workspace" in out.content


async def test_grep_lists_matching_files_by_default(ctx: ToolContext, root: Path) -> None:
    _tree(root)
    out = await Grep().run({"pattern": "import os"}, ctx)
    assert out.content.splitlines()[0] == "Found 4 files"
    assert str(root / ".git/x.py") not in out.content


async def test_grep_content_mode_with_line_numbers_and_context(ctx: ToolContext, root: Path) -> None:
    (root / "f.txt").write_text("a\nb\nneedle\nc\nd\ne\nneedle2\n")
    out = await Grep().run({"pattern": "needle", "output_mode": "content", "-B": 1, "path": str(root)}, ctx)
    path = root / "f.txt"
    # ripgrep's (and so Claude Code's) convention: `:` after the path of a match line, `-` for context lines.
    assert out.content.splitlines() == [f"{path}-2-b", f"{path}:3:needle", "--", f"{path}-6-e", f"{path}:7:needle2"]


async def test_grep_single_file_omits_the_path_and_honours_case_flag(ctx: ToolContext, root: Path) -> None:
    (root / "f.txt").write_text("Hello\nhello\n")
    strict = await Grep().run({"pattern": "hello", "path": str(root / "f.txt"), "output_mode": "content"}, ctx)
    assert strict.content == "2:hello"
    loose = await Grep().run(
        {"pattern": "hello", "path": str(root / "f.txt"), "output_mode": "content", "-i": True, "-n": False}, ctx
    )
    assert loose.content == "Hello\nhello"


async def test_grep_count_mode_and_type_and_glob_filters(ctx: ToolContext, root: Path) -> None:
    _tree(root)
    count = await Grep().run({"pattern": "value", "output_mode": "count", "type": "py"}, ctx)
    assert f"{root / 'a.py'}:1" in count.content and "Found 3 total occurrences across 3 files." in count.content
    only_txt = await Grep().run({"pattern": "value", "glob": "*.txt"}, ctx)
    assert only_txt.data["filenames"] == [str(root / "pkg/c.txt")]
    unknown = await Grep().run({"pattern": "x", "type": "cobol"}, ctx)
    assert unknown.is_error and "Unknown file type 'cobol'" in unknown.content


async def test_grep_honours_gitignore(ctx: ToolContext, root: Path) -> None:
    _tree(root)
    (root / ".gitignore").write_text("pkg/deep/\n")
    out = await Grep().run({"pattern": "value"}, ctx)
    assert str(root / "pkg/deep/d.py") not in out.content and str(root / "a.py") in out.content


async def test_grep_multiline_matches_across_lines(ctx: ToolContext, root: Path) -> None:
    (root / "m.py").write_text("class A:\n    pass\nclass B:\n    x = 1\n")
    out = await Grep().run({"pattern": r"class B:.*x = 1", "multiline": True, "output_mode": "content"}, ctx)
    assert out.content.splitlines() == [f"{root / 'm.py'}:3:class B:", f"{root / 'm.py'}:4:    x = 1"]


async def test_grep_head_limit_and_offset_page_the_output(ctx: ToolContext, root: Path) -> None:
    (root / "f.txt").write_text("".join(f"hit {i}\n" for i in range(10)))
    out = await Grep().run(
        {"pattern": "hit", "path": str(root / "f.txt"), "output_mode": "content", "head_limit": 3, "offset": 2}, ctx
    )
    assert out.content.splitlines()[:3] == ["3:hit 2", "4:hit 3", "5:hit 4"]
    assert "limited to 3 entries" in out.content


async def test_grep_only_matching_prints_the_matches(ctx: ToolContext, root: Path) -> None:
    (root / "f.txt").write_text("id=12 id=345\n")
    out = await Grep().run({"pattern": r"\d+", "path": str(root / "f.txt"), "output_mode": "content", "-o": True}, ctx)
    assert out.content.splitlines() == ["1:12", "1:345"]


async def test_grep_invalid_regex_and_missing_path_are_errors(ctx: ToolContext, root: Path) -> None:
    bad = await Grep().run({"pattern": "(unclosed"}, ctx)
    assert bad.is_error and "Invalid regular expression" in bad.content
    missing = await Grep().run({"pattern": "x", "path": str(root / "none")}, ctx)
    assert missing.is_error and "Path does not exist" in missing.content


async def test_grep_skips_binary_files_and_reports_no_match(ctx: ToolContext, root: Path) -> None:
    (root / "b.bin").write_bytes(b"needle\x00\x01")
    out = await Grep().run({"pattern": "needle"}, ctx)
    assert out.content == "No files found"


async def test_grep_files_are_newest_first_on_either_engine(ctx: ToolContext, root: Path, engine: str) -> None:
    for i, name in enumerate(["old.txt", "new.txt", "mid.txt"]):
        (root / name).write_text("hit\n")
        os.utime(
            root / name, (1_000_000 + i * 10, {"old.txt": 1_000_000, "new.txt": 3_000_000, "mid.txt": 2_000_000}[name])
        )
    out = await Grep().run({"pattern": "hit", "head_limit": 2}, ctx)
    assert out.data["filenames"] == [str(root / "new.txt"), str(root / "mid.txt")]
    assert out.content.startswith("Found 3 files") and "limited to 2 entries" in out.content
    assert out.data.get("engine", "python") == engine
