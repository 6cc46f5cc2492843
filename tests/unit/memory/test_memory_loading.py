"""CLAUDE.md discovery, load order, @imports, rules with `paths:` and AGENTS.md, against real directory trees."""

from __future__ import annotations

import asyncio
from pathlib import Path

from dexa.memory import MemoryConfig, MemoryIndex, load_memory, render_memory
from dexa.memory.markdown import find_imports, strip_html_comments


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def config(tmp: Path, cwd: Path, **kw) -> MemoryConfig:
    return MemoryConfig(cwd=str(cwd), home=str(tmp / "home"), managed_dir=str(tmp / "managed"), stop_at=str(tmp), **kw)


def paths(files) -> list[str]:
    return [f.path for f in files]


def test_load_order_is_managed_user_then_root_down_to_cwd_with_local_after_project(tmp_path: Path) -> None:
    managed = write(tmp_path / "managed" / "CLAUDE.md", "managed")
    user = write(tmp_path / "home" / ".claude" / "CLAUDE.md", "user")
    user_rule = write(tmp_path / "home" / ".claude" / "rules" / "style.md", "user rule")
    outer = write(tmp_path / "repo" / "CLAUDE.md", "outer")
    outer_local = write(tmp_path / "repo" / "CLAUDE.local.md", "outer local")
    inner = write(tmp_path / "repo" / "pkg" / "CLAUDE.md", "inner")
    inner_dot = write(tmp_path / "repo" / "pkg" / ".claude" / "CLAUDE.md", "inner dot")
    rule = write(tmp_path / "repo" / "pkg" / ".claude" / "rules" / "nested" / "r.md", "rule")
    local = write(tmp_path / "repo" / "pkg" / "CLAUDE.local.md", "local")
    load = load_memory(config(tmp_path, tmp_path / "repo" / "pkg"))
    assert paths(load.files) == [
        str(p) for p in (managed, user, user_rule, outer, outer_local, inner, inner_dot, rule, local)
    ]
    assert [f.scope for f in load.files] == [
        "managed",
        "user",
        "user",
        "project",
        "local",
        "project",
        "project",
        "project",
        "local",
    ]
    assert load.problems == []


def test_imports_resolve_relative_home_and_absolute_paths_and_follow_their_importer(tmp_path: Path) -> None:
    absolute = write(tmp_path / "repo" / "shared" / "abs.md", "absolute")
    write(tmp_path / "home" / "personal.md", "personal")
    write(tmp_path / "repo" / "docs" / "guide.md", "guide @../shared/deeper.md")
    write(tmp_path / "repo" / "shared" / "deeper.md", "deeper")
    write(tmp_path / "home" / ".claude" / "CLAUDE.md", "user @~/personal.md")
    write(tmp_path / "repo" / "CLAUDE.md", f"See @docs/guide.md and @{absolute}.\nAlso @missing.md")
    load = load_memory(config(tmp_path, tmp_path / "repo"))
    rows = [(Path(f.path).name, f.imported_from and Path(f.imported_from).name, f.depth) for f in load.files]
    assert rows == [
        ("CLAUDE.md", None, 0),
        ("personal.md", "CLAUDE.md", 1),
        ("CLAUDE.md", None, 0),
        ("guide.md", "CLAUDE.md", 1),
        ("deeper.md", "guide.md", 2),
        ("abs.md", "CLAUDE.md", 1),
    ]
    assert load.files[1].scope == "user" and load.files[3].scope == "project"


def test_imports_inside_code_spans_and_fences_are_ignored(tmp_path: Path) -> None:
    for name in ("a.md", "b.md", "c.md", "d.md"):
        write(tmp_path / "repo" / name, name)
    write(tmp_path / "repo" / "CLAUDE.md", "use `@a.md` literally\n```\n@b.md\n```\n~~~md\n@c.md\n~~~\nreal @d.md\n")
    load = load_memory(config(tmp_path, tmp_path / "repo"))
    assert [Path(p).name for p in paths(load.files)] == ["CLAUDE.md", "d.md"]


def test_import_depth_is_bounded_and_reported(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    for i in range(8):
        write(repo / f"f{i}.md", f"level {i} @f{i + 1}.md")
    write(repo / "CLAUDE.md", "root @f0.md")
    load = load_memory(config(tmp_path, repo))
    assert [Path(p).name for p in paths(load.files)] == ["CLAUDE.md", "f0.md", "f1.md", "f2.md", "f3.md"]
    assert max(f.depth for f in load.files) == 4
    assert any("deeper than 4" in p.message for p in load.problems)
    shallow = load_memory(config(tmp_path, repo, max_import_depth=2))
    assert len(shallow.files) == 3


def test_import_cycles_load_each_file_once(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    write(repo / "a.md", "a @b.md")
    write(repo / "b.md", "b @a.md @CLAUDE.md")
    write(repo / "CLAUDE.md", "root @a.md")
    load = load_memory(config(tmp_path, repo))
    assert [Path(p).name for p in paths(load.files)] == ["CLAUDE.md", "a.md", "b.md"]


def test_project_imports_from_outside_the_working_directory_need_approval(tmp_path: Path) -> None:
    secret = write(tmp_path / "elsewhere" / "secret.md", "secret")
    repo = tmp_path / "repo"
    write(repo / "CLAUDE.md", f"@{secret}")
    load = load_memory(config(tmp_path, repo))
    assert paths(load.files) == [str(repo / "CLAUDE.md")]
    assert load.problems and load.problems[0].key == f"@{secret}" and "outside" in load.problems[0].message
    approved = load_memory(config(tmp_path, repo, allow_external_imports=True))
    assert str(secret) in paths(approved.files)


def test_rules_without_paths_load_at_start_and_path_rules_wait_for_a_matching_file(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    write(repo / ".claude" / "rules" / "always.md", "always")
    write(repo / ".claude" / "rules" / "api.md", '---\npaths:\n  - "src/api/**/*.ts"\n  - "*.md"\n---\nAPI rules')
    write(repo / ".claude" / "rules" / "tsx.md", "---\npaths: src/**/*.{ts,tsx}\n---\nTS rules")
    index = MemoryIndex.load(config(tmp_path, repo))
    assert [Path(p).name for p in paths(index.files)] == ["always.md"]
    assert sorted(Path(r.path).name for r in index.startup.pending_rules) == ["api.md", "tsx.md"]
    assert index.on_file_access(str(repo / "lib" / "x.py")) == []
    assert index.on_file_access(str(repo / "docs" / "README.md")) == []  # `*.md` matches the root only
    hit = index.on_file_access(str(repo / "src" / "api" / "v1" / "users.ts"))
    assert [(Path(f.path).name, f.reason, f.content) for f in hit] == [
        ("api.md", "path_glob_match", "API rules"),
        ("tsx.md", "path_glob_match", "TS rules"),
    ]
    assert index.on_file_access(str(repo / "src" / "api" / "other.ts")) == []  # once per session


def test_a_rule_for_every_path_loads_at_start_but_star_star_slash_star_waits(tmp_path: Path) -> None:
    # Claude Code 2.1: `paths: "**"` (or ["**"]) loads with the session; `**/*` stays conditional.
    repo = tmp_path / "repo"
    write(repo / ".claude" / "rules" / "bare.md", '---\npaths: "**"\n---\nbare')
    write(repo / ".claude" / "rules" / "listed.md", '---\npaths: ["**"]\n---\nlisted')
    write(repo / ".claude" / "rules" / "every.md", '---\npaths: "**/*"\n---\nevery')
    index = MemoryIndex.load(config(tmp_path, repo))
    assert sorted(Path(p).name for p in paths(index.files)) == ["bare.md", "listed.md"]
    assert [Path(r.path).name for r in index.startup.pending_rules] == ["every.md"]


def test_subtree_claude_md_loads_lazily_once_when_a_file_there_is_read(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    write(repo / "CLAUDE.md", "root")
    write(repo / "pkg" / "CLAUDE.md", "pkg")
    write(repo / "pkg" / "deep" / "CLAUDE.local.md", "deep local")
    index = MemoryIndex.load(config(tmp_path, repo))
    assert [Path(p).name for p in paths(index.files)] == ["CLAUDE.md"]
    target = str(repo / "pkg" / "deep" / "main.py")
    assert [f.content for f in index.nested_memory_for(target)] == ["pkg", "deep local"]
    first = index.on_file_access(target)
    assert [(f.content, f.reason) for f in first] == [("pkg", "nested_traversal"), ("deep local", "nested_traversal")]
    assert index.on_file_access(str(repo / "pkg" / "other.py")) == []
    assert index.on_file_access(str(tmp_path / "outside.py")) == []


def test_nested_memory_is_injected_once_per_session_even_after_a_restart(tmp_path: Path) -> None:
    from dexa.adapters.sqlite import SqliteStore

    repo = tmp_path / "repo"
    write(repo / "pkg" / "CLAUDE.md", "pkg rules")
    store = SqliteStore(tmp_path / "db.sqlite")
    first = MemoryIndex.load(config(tmp_path, repo))
    text = asyncio.run(first.reminder_for(str(repo / "pkg" / "a.py"), store, "s1"))
    assert text.startswith("<system-reminder>\nContents of ") and "pkg rules" in text
    restarted = MemoryIndex.load(config(tmp_path, repo))
    assert asyncio.run(restarted.reminder_for(str(repo / "pkg" / "b.py"), store, "s1")) == ""
    other_session = MemoryIndex.load(config(tmp_path, repo))
    assert "pkg rules" in asyncio.run(other_session.reminder_for(str(repo / "pkg" / "b.py"), store, "s2"))


def test_agents_md_loads_when_a_directory_has_no_claude_md(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    write(repo / "AGENTS.md", "agents rules")
    load = load_memory(config(tmp_path, repo))
    assert [(Path(f.path).name, f.kind, f.scope) for f in load.files] == [("AGENTS.md", "agents_md", "project")]


def test_agents_md_is_not_loaded_twice_when_claude_md_imports_it(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    write(repo / "AGENTS.md", "shared rules")
    write(repo / "CLAUDE.md", "@AGENTS.md\n\nClaude-specific additions")
    load = load_memory(config(tmp_path, repo))
    assert [(Path(f.path).name, f.imported) for f in load.files] == [("CLAUDE.md", False), ("AGENTS.md", True)]


def test_claude_md_excludes_skip_files_but_never_managed_memory(tmp_path: Path) -> None:
    write(tmp_path / "managed" / "CLAUDE.md", "managed")
    write(tmp_path / "repo" / "vendor" / "CLAUDE.md", "vendored")
    write(tmp_path / "repo" / "CLAUDE.md", "root")
    cfg = config(tmp_path, tmp_path / "repo" / "vendor", excludes=("**/vendor/CLAUDE.md", "**/managed/CLAUDE.md"))
    assert [Path(f.path).parent.name for f in load_memory(cfg).files] == ["managed", "repo"]


def test_html_comments_are_stripped_outside_code_blocks() -> None:
    text = "keep\n<!-- drop\n@hidden.md -->\n```\n<!-- kept in code -->\n```\nend"
    assert strip_html_comments(text) == "keep\n```\n<!-- kept in code -->\n```\nend"
    assert find_imports("mail me at a@b.com or @@x, see @real.md") == ["real.md"]


def test_render_matches_claude_codes_memory_block(tmp_path: Path) -> None:
    write(tmp_path / "home" / ".claude" / "CLAUDE.md", "be brief")
    write(tmp_path / "repo" / "CLAUDE.md", "use uv")
    write(tmp_path / "repo" / "CLAUDE.local.md", "my sandbox url")
    text = render_memory(load_memory(config(tmp_path, tmp_path / "repo")).files)
    home, repo = tmp_path / "home" / ".claude", tmp_path / "repo"
    assert text == (
        "Codebase and user instructions are shown below. Be sure to adhere to these instructions. IMPORTANT: These "
        "instructions OVERRIDE any default behavior and you MUST follow them exactly as written.\n\n"
        f"Contents of {home}/CLAUDE.md (user's private global instructions for all projects):\n\nbe brief\n\n"
        f"Contents of {repo}/CLAUDE.md (project instructions, checked into the codebase):\n\nuse uv\n\n"
        f"Contents of {repo}/CLAUDE.local.md (user's private project instructions, not checked in):\n\n"
        "my sandbox url"
    )
    assert render_memory([]) == ""


def test_inline_managed_claude_md_comes_first(tmp_path: Path) -> None:
    write(tmp_path / "repo" / "CLAUDE.md", "project")
    load = load_memory(config(tmp_path, tmp_path / "repo", managed_text="org policy text"))
    assert [(f.scope, f.content) for f in load.files] == [("managed", "org policy text"), ("project", "project")]


def test_settings_excludes_reach_the_session_memory(tmp_path: Path) -> None:
    from dexa.agents.extensions import load_extensions

    write(tmp_path / "repo" / "CLAUDE.md", "root")
    write(tmp_path / "repo" / "vendor" / "CLAUDE.md", "vendored")
    cwd = str(tmp_path / "repo" / "vendor")
    kept = load_extensions(cwd, home=tmp_path / "home", managed_dir=None)
    assert [Path(f.path).parent.name for f in kept.memory.files] == ["repo", "vendor"]
    ext = load_extensions(cwd, home=tmp_path / "home", managed_dir=None, claude_md_excludes=("**/vendor/CLAUDE.md",))
    assert [Path(f.path).parent.name for f in ext.memory.files] == ["repo"]
