"""The body of `dexa run`: flags in (named as in RUN_FLAGS), exit code out. No typer here: the typer command
(cli/app.py) and the hand-parsed headless fast path (cli/main.py) both call `run_command`."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dexa.cli import startup_gc
from dexa.cli.console import err
from dexa.core.errors import DexaError
from dexa.core.session import SessionConfig


def split_rules(values: list[str] | None) -> tuple[str, ...]:
    """Claude Code accepts comma- or space-separated rule lists; parentheses may contain spaces."""
    out: list[str] = []
    for value in values or []:
        depth, cur = 0, ""
        for ch in value:
            if ch == "(":
                depth += 1
            elif ch == ")":
                depth = max(0, depth - 1)
            if ch in ", " and depth == 0:
                if cur.strip():
                    out.append(cur.strip())
                cur = ""
            else:
                cur += ch
        if cur.strip():
            out.append(cur.strip())
    return tuple(out)


def run_command(values: Mapping[str, Any]) -> int:
    """Run `dexa run` with parsed flag values; returns the exit code (1: an error result or a bad flag value,
    2: a runtime error, 130: interrupted). The in-process run ends the process itself once its result is out."""
    try:
        return _run_command(values)
    finally:
        startup_gc.resume()  # a path that ended before the in-process run resumed collection (cli/startup_gc.py)


def _run_command(values: Mapping[str, Any]) -> int:
    v = dict(values)
    prompt: str | None = v["prompt_arg"]
    input_format: str = v["input_format"]
    output_format: str = v["output_format"]
    if prompt == "-" or (
        prompt is None and input_format == "text" and not v["resume"] and not v["continue_"] and not sys.stdin.isatty()
    ):
        prompt = sys.stdin.read()
    try:
        config = _session_config(v)
    except DexaError as exc:
        err.print(f"Error: {exc}", markup=False, highlight=False)
        if output_format in ("json", "stream-json"):
            from dexa.headless.wire import error_result

            sys.stdout.write(json.dumps(error_result(str(exc))) + "\n")
            sys.stdout.flush()
        return 1
    if v["unsandboxed"]:
        err.print(
            "[bold yellow on red] WARNING [/] Bash runs WITHOUT a sandbox: commands can read and change "
            "anything this user can."
        )
    from dexa.cli.run_options import RunOptions

    opts = RunOptions(
        prompt=prompt,
        cwd=str((v["cwd"] or Path.cwd()).resolve()),
        output_format=output_format,
        input_format=input_format,
        verbose=v["verbose"],
        resume=v["resume"],
        continue_=v["continue_"],
        fork_session=v["fork_session"],
        model=v["model"],
        fallback_model=v["fallback_model"],
        permission_mode=v["permission_mode"],
        session_id=v["session_id"],
        include_partial_messages=v["include_partial_messages"],
        replay_user_messages=v["replay_user_messages"],
        permission_prompt_tool=v["permission_prompt_tool"],
        config=config,
    )
    from dexa.cli.process_exit import finish

    server, found = v["server"], None
    if not server and not v["no_attach"]:
        from dexa.cli.attach import attachable_server

        found = attachable_server(opts, v, dict(os.environ))
    if found is not None:
        from dexa.cli.attached import run_attached

        startup_gc.resume()  # a thin client: its start-up is done here
        code = run_attached(found[0], opts, found[1])
    elif server:
        from dexa.cli.remote import run_remote

        startup_gc.resume()
        code = run_remote(server, opts)
    else:
        code = _run_here(opts)
    finish(code)  # the result is out (and a local runtime closed): skip the interpreter's slow teardown
    return code


def _session_config(v: dict[str, Any]) -> SessionConfig:
    from dexa.cli.flags import check_run_flags, read_text_flag, session_extra
    from dexa.headless.json_flags import inline_json_files

    check_run_flags(
        output_format=v["output_format"],
        input_format=v["input_format"],
        session_id=v["session_id"],
        permission_prompt_tool=v["permission_prompt_tool"],
        agents=v["agents"],
        plugin_dirs=v["plugin_dir"],
        setting_sources=v["setting_sources"],
    )
    settings_files = inline_json_files(v["settings"] or [], kind="settings")
    mcp_files = inline_json_files(v["mcp_config"] or [], kind="mcp")
    system_prompt: str | None = v["system_prompt"]
    append_system_prompt: str = v["append_system_prompt"]
    if v["system_prompt_file"] is not None:
        system_prompt = read_text_flag(v["system_prompt_file"], "--system-prompt-file")
    if v["append_system_prompt_file"] is not None:
        extra = read_text_flag(v["append_system_prompt_file"], "--append-system-prompt-file")
        append_system_prompt = "\n".join(p for p in (append_system_prompt, extra) if p)
    tools: str | None = v["tools"]
    return SessionConfig(
        allowed_tools=split_rules(v["allowed_tools"]),
        disallowed_tools=split_rules(v["disallowed_tools"]),
        tools=None if tools is None else tuple(t for t in split_rules([tools]) if t != "default"),
        add_dirs=tuple(str(Path(d).resolve()) for d in v["add_dir"] or []),
        settings_files=settings_files,
        append_system_prompt=append_system_prompt,
        system_prompt=system_prompt,
        max_turns=v["max_turns"],
        max_budget_usd=v["max_budget_usd"],
        network=v["network"],
        unsandboxed=v["unsandboxed"],
        mcp_config=mcp_files,
        strict_mcp_config=v["strict_mcp_config"],
        extra=session_extra(
            setting_sources=v["setting_sources"],
            agents=v["agents"],
            plugin_dirs=v["plugin_dir"],
            mcp_config=v["mcp_config"],
        ),
    )


def _run_here(opts: Any) -> int:
    import asyncio  # here, not at the top: an attached run's thin client has no event loop

    from dexa.cli.headless import run_headless

    async def main() -> int:
        from dexa.settings import get_settings
        from dexa.wiring import build_runtime

        rt = build_runtime(get_settings())
        try:
            return await run_headless(rt, opts, dict(os.environ))
        finally:
            await rt.aclose()

    try:
        return asyncio.run(main())
    except DexaError as exc:
        err.print(f"[bold red]error:[/] {exc}")
        return 2
    except KeyboardInterrupt:  # Ctrl-C before or after the turn (a turn in flight is interrupted by run_headless)
        err.print("Interrupted.", markup=False)
        return 130
