"""RunScript: the one-time code tool. The agent writes a Python / JavaScript / TypeScript script, it runs in
the sandbox (`.dexa/scripts/` inside the workspace), and the output comes back.

TypeScript: node >= 22.6 strips types natively (`--experimental-strip-types`). Older node (this machine has
v20) gets the script transpiled by the `typescript` package shipped in `tools/ts` (`npm ci --prefix tools/ts`).
The transpiler runs on the host but only parses the text (`ts.transpileModule`); the script itself always runs
in the sandbox.
"""

from __future__ import annotations

import asyncio
import os
import re
import shlex
import uuid
from pathlib import Path
from typing import Any

from dexa.core.errors import DexaError, ToolError
from dexa.core.ports import ToolSpec, Workspace
from dexa.core.tools import ToolContext, ToolOutput

from .shell import DEFAULT_TIMEOUT_MS, MAX_TIMEOUT_MS, render_exec, session_cwd
from .validate import BaseTool, check_input

SCRIPTS_DIR = ".dexa/scripts"
_ESM = re.compile(r"^\s*(import\s[^(]|import\s*['\"{*]|export\s)", re.MULTILINE)
_TRANSPILE_JS = """
const ts = require(process.argv[1]);
const esm = process.argv[2] === "esm";
let src = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (d) => (src += d));
process.stdin.on("end", () => {
  const out = ts.transpileModule(src, {
    reportDiagnostics: true,
    compilerOptions: {
      target: ts.ScriptTarget.ES2022,
      module: esm ? ts.ModuleKind.ESNext : ts.ModuleKind.CommonJS,
      esModuleInterop: true,
    },
  });
  const errors = (out.diagnostics || []).map((d) => {
    const text = ts.flattenDiagnosticMessageText(d.messageText, "\\n");
    if (!d.file || d.start === undefined) return text;
    const { line, character } = d.file.getLineAndCharacterOfPosition(d.start);
    return `line ${line + 1}:${character + 1}: ${text}`;
  });
  if (errors.length) { process.stderr.write(errors.join("\\n")); process.exit(2); }
  process.stdout.write(out.outputText);
});
"""
_node_versions: dict[int, tuple[int, int]] = {}


def typescript_module() -> str | None:
    """The shipped `typescript` package directory, if installed."""
    configured = os.environ.get("DEXA_TYPESCRIPT_DIR")
    candidates = [Path(configured)] if configured else []
    candidates.append(Path(__file__).resolve().parents[3] / "tools" / "ts" / "node_modules" / "typescript")
    for path in candidates:
        if (path / "package.json").is_file():
            return str(path)
    return None


async def _node_version(ws: Workspace, cwd: str) -> tuple[int, int]:
    key = id(ws)
    if key not in _node_versions:
        result = await ws.exec("node --version", cwd=cwd, timeout_s=30)
        match = re.match(r"v(\d+)\.(\d+)", result.stdout.strip())
        _node_versions[key] = (int(match.group(1)), int(match.group(2))) if match else (0, 0)
    return _node_versions[key]


async def transpile_typescript(code: str, *, esm: bool) -> str:
    """TypeScript -> JavaScript with the shipped compiler. Raises ToolError with the syntax errors."""
    module = typescript_module()
    if module is None:
        raise ToolError(
            "TypeScript needs node >= 22.6 in the workspace or the bundled transpiler; install it with "
            "`npm ci --prefix tools/ts`. Alternatively run the script as JavaScript."
        )
    proc = await asyncio.create_subprocess_exec(
        "node",
        "-e",
        _TRANSPILE_JS,
        module,
        "esm" if esm else "cjs",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={"PATH": "/usr/local/bin:/usr/bin:/bin"},
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(code.encode()), timeout=60)
    except TimeoutError as exc:
        proc.kill()
        raise ToolError("TypeScript transpilation timed out") from exc
    if proc.returncode != 0:
        raise ToolError(f"TypeScript syntax error(s):\n{err.decode(errors='replace').strip()}")
    return out.decode()


class RunScript(BaseTool):
    spec = ToolSpec(
        name="RunScript",
        description=(
            "Runs a one-off script in the sandboxed workspace and returns its stdout, stderr and exit code. Use it "
            "to cross-reference, transform or analyse data (parse files, compute, reformat) when a script is "
            "clearer than a shell pipeline. language: python (python3, standard library), javascript or typescript "
            "(node; `import` makes it an ES module, otherwise CommonJS). args are passed as command-line arguments. "
            "The script runs in the current working directory; timeout is in milliseconds (default 120000). No "
            "network unless the session allows it."
        ),
        input_schema={
            "type": "object",
            "properties": {
                "language": {"type": "string", "enum": ["python", "javascript", "typescript"]},
                "code": {"type": "string", "description": "The full source of the script"},
                "args": {"type": "array", "items": {"type": "string"}, "description": "Command-line arguments"},
                "timeout": {"type": "number", "description": "Timeout in milliseconds (max 600000)"},
            },
            "required": ["language", "code"],
        },
    )

    async def _prepare(self, ctx: ToolContext, language: str, code: str, cwd: str) -> tuple[str, str]:
        """(file name, interpreter command) for the script."""
        if language == "python":
            return ".py", "python3"
        esm = bool(_ESM.search(code)) or ("require(" not in code and "await " in code)
        ext = ".mjs" if esm else ".cjs"
        if language == "javascript":
            return ext, "node"
        if await _node_version(ctx.workspace, cwd) >= (22, 6):
            return (".mts" if esm else ".cts"), "node --experimental-strip-types --no-warnings"
        return ext, "node"

    async def call(self, tool_input: dict[str, Any], ctx: ToolContext) -> ToolOutput:
        language: str = tool_input["language"]
        code: str = tool_input["code"]
        timeout_ms = min(int(tool_input.get("timeout") or DEFAULT_TIMEOUT_MS), MAX_TIMEOUT_MS)
        if timeout_ms <= 0:
            raise ToolError("`timeout` must be a positive number of milliseconds")
        cwd, note = await session_cwd(ctx)
        ext, interpreter = await self._prepare(ctx, language, code, cwd)
        if language == "typescript" and ext in (".mjs", ".cjs"):
            code = await transpile_typescript(code, esm=ext == ".mjs")
        ws = ctx.workspace
        name = re.sub(r"[^A-Za-z0-9_-]", "_", ctx.tool_use_id or uuid.uuid4().hex)
        path = os.path.join(ws.root, SCRIPTS_DIR, f"{name}{ext}")
        await ws.write_bytes(path, code.encode())
        args = " ".join(shlex.quote(str(a)) for a in tool_input.get("args") or [])
        command = f"{interpreter} {shlex.quote(path)} {args}".rstrip()
        try:
            result = await ws.exec(
                command,
                cwd=cwd,
                timeout_s=timeout_ms / 1000,
                env={
                    **(ctx.services.get("command_env") or {}),
                    "PYTHONDONTWRITEBYTECODE": "1",
                    "PYTHONUNBUFFERED": "1",
                },
                job_id=ctx.tool_use_id or None,
            )
        finally:
            await ws.remove(path)
        output = render_exec(result, command, timeout_ms, [note] if note else [])
        output.data.update(language=language, script_path=path)
        return output

    async def recover(self, tool_input: dict[str, Any], ctx: ToolContext) -> ToolOutput | None:
        """After a crash: the journaled result of the script run, or None when it never started."""
        if not ctx.tool_use_id or check_input(self.spec, tool_input) is not None:
            return None
        try:
            timeout_ms = min(int(tool_input.get("timeout") or DEFAULT_TIMEOUT_MS), MAX_TIMEOUT_MS)
            result = await ctx.workspace.recover(ctx.tool_use_id, wait_s=timeout_ms / 1000)
        except (DexaError, OSError) as exc:
            return ToolOutput(content=f"RunScript could not recover the result of its script: {exc}", is_error=True)
        if result is None:
            return None
        output = render_exec(result, f"{tool_input['language']} script", timeout_ms, [])
        output.data.update(language=tool_input["language"], recovered=True)
        return output
