"""RunScript: Python, JavaScript and TypeScript one-off scripts in the sandbox."""

# ruff: noqa: ASYNC240 - the tests inspect the host filesystem directly, synchronously, on purpose

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from dexa.core.tools import ToolContext
from dexa.tools.script import RunScript, typescript_module

pytestmark = pytest.mark.anyio


async def test_python_script_reads_workspace_data_and_gets_args(ctx: ToolContext, root: Path) -> None:
    (root / "data.json").write_text(json.dumps([{"n": 1}, {"n": 2}, {"n": 39}]))
    code = "import json, sys\nrows = json.load(open('data.json'))\nprint(sys.argv[1], sum(r['n'] for r in rows))\n"
    out = await RunScript().run({"language": "python", "code": code, "args": ["total:"]}, ctx)
    assert not out.is_error, out.content
    assert out.content == "total: 42" and out.data["exit_code"] == 0
    assert not Path(out.data["script_path"]).exists()  # one-time: cleaned up


async def test_python_script_failure_returns_traceback_and_exit_code(ctx: ToolContext) -> None:
    out = await RunScript().run({"language": "python", "code": "raise SystemExit('bad input')"}, ctx)
    assert out.is_error and "bad input" in out.content and "Exit code 1" in out.content


async def test_javascript_commonjs_and_esm(ctx: ToolContext) -> None:
    cjs = await RunScript().run({"language": "javascript", "code": "const os = require('os'); console.log(6 * 7)"}, ctx)
    assert cjs.content == "42", cjs.content
    esm = await RunScript().run(
        {"language": "javascript", "code": "import { sep } from 'node:path';\nconsole.log(sep + 'ok')"},
        dataclasses.replace(ctx, tool_use_id="toolu_2"),  # a new call: the first one's result is journaled
    )
    assert esm.content == "/ok", esm.content


@pytest.mark.skipif(typescript_module() is None, reason="run `npm ci --prefix tools/ts` for the TypeScript transpiler")
async def test_typescript_runs_with_types_stripped(ctx: ToolContext) -> None:
    code = (
        "interface Row { name: string; n: number }\n"
        "const rows: Row[] = [{ name: 'a', n: 40 }, { name: 'b', n: 2 }];\n"
        "const total = (xs: Row[]): number => xs.reduce((s, r) => s + r.n, 0);\n"
        "console.log(`total=${total(rows)}`);\n"
    )
    out = await RunScript().run({"language": "typescript", "code": code}, ctx)
    assert not out.is_error, out.content
    assert out.content == "total=42"


@pytest.mark.skipif(typescript_module() is None, reason="run `npm ci --prefix tools/ts` for the TypeScript transpiler")
async def test_typescript_syntax_errors_are_reported(ctx: ToolContext) -> None:
    out = await RunScript().run({"language": "typescript", "code": "const x: number = ;"}, ctx)
    assert out.is_error and "TypeScript syntax error" in out.content and "line 1" in out.content


async def test_script_timeout_and_bad_language(ctx: ToolContext) -> None:
    slow = await RunScript().run({"language": "python", "code": "import time; time.sleep(30)", "timeout": 300}, ctx)
    assert slow.is_error and "timed out" in slow.content
    ruby = await RunScript().run({"language": "ruby", "code": "puts 1"}, ctx)
    assert ruby.is_error and "`language` must be one of" in ruby.content


async def test_script_has_no_network(ctx: ToolContext) -> None:
    code = "import socket\ntry:\n    socket.create_connection(('1.1.1.1', 53), timeout=2)\n    print('CONNECTED')\n"
    code += "except OSError:\n    print('blocked')\n"
    out = await RunScript().run({"language": "python", "code": code}, ctx)
    assert out.content == "blocked"
