"""`RunOptions`: one `dexa run` invocation's flags, shared by the in-process run (headless.py) and the thin client
of a server (remote.py). Its own module so the client imports none of the engine (commands, permissions, bashlex,
settings) that headless.py pulls in."""

from __future__ import annotations

from dataclasses import dataclass, field

from dexa.core.session import SessionConfig


@dataclass(slots=True, kw_only=True)
class RunOptions:
    prompt: str | None
    cwd: str
    output_format: str = "text"
    input_format: str = "text"
    verbose: bool = False
    resume: str | None = None
    continue_: bool = False
    fork_session: bool = False
    model: str | None = None
    fallback_model: str | None = None
    permission_mode: str | None = None
    session_id: str | None = None
    include_partial_messages: bool = False
    replay_user_messages: bool = False
    permission_prompt_tool: str | None = None
    config: SessionConfig = field(default_factory=SessionConfig)


@dataclass(frozen=True, slots=True)
class RunFlag:
    """One `dexa run` option. The typer command (cli/app.py) and the hand parser of the headless fast path
    (cli/run_argv.py) are both built from RUN_FLAGS, so the two cannot drift apart."""

    name: str  # the parameter name the run command receives
    flags: tuple[str, ...]
    kind: str  # bool | str | int | float | path | list (a repeatable str)
    default: bool | str | None = None
    help: str | None = None
    hidden: bool = False


PROMPT_HELP = "The prompt ('-' reads stdin)"
RUN_HELP = "Run a prompt headlessly (Claude Code's `-p` contract)."
RUN_FLAGS: tuple[RunFlag, ...] = (
    RunFlag("print_", ("-p", "--print"), "bool", False, "Print the response and exit (headless)"),
    RunFlag("output_format", ("--output-format",), "str", "text", "text|json|stream-json"),
    RunFlag("input_format", ("--input-format",), "str", "text", "text|stream-json"),
    RunFlag("verbose", ("--verbose",), "bool", False),
    RunFlag("resume", ("--resume", "-r"), "str", help="Session id to resume"),
    RunFlag("continue_", ("--continue", "-c"), "bool", False, "Continue the latest session here"),
    RunFlag("fork_session", ("--fork-session",), "bool", False, "With --resume/--continue: a new id"),
    RunFlag("session_id", ("--session-id",), "str", help="UUID for the new session"),
    RunFlag("model", ("--model",), "str", help="sonnet|opus|haiku|<id>|scripted:FILE"),
    RunFlag("fallback_model", ("--fallback-model",), "str", help="Model(s) to try when overloaded"),
    RunFlag("max_turns", ("--max-turns",), "int"),
    RunFlag("max_budget_usd", ("--max-budget-usd",), "float"),
    RunFlag("cwd", ("--cwd",), "path", help="Working directory (default: current)"),
    RunFlag("system_prompt", ("--system-prompt",), "str"),
    RunFlag("system_prompt_file", ("--system-prompt-file",), "path"),
    RunFlag("append_system_prompt", ("--append-system-prompt",), "str", ""),
    RunFlag("append_system_prompt_file", ("--append-system-prompt-file",), "path"),
    RunFlag(
        "allowed_tools", ("--allowedTools", "--allowed-tools"), "list", help='Allow rules, e.g. "Bash(npm test:*),Read"'
    ),
    RunFlag(
        "disallowed_tools",
        ("--disallowedTools", "--disallowed-tools"),
        "list",
        help="Deny rules; bare names remove tools",
    ),
    RunFlag("tools", ("--tools",), "str", help='Restrict built-in tools, e.g. "Bash,Read"'),
    RunFlag(
        "permission_mode", ("--permission-mode",), "str", help="default|acceptEdits|plan|bypassPermissions|dontAsk"
    ),
    RunFlag(
        "permission_prompt_tool",
        ("--permission-prompt-tool",),
        "str",
        help="'stdio': ask the Agent SDK (can_use_tool)",
    ),
    RunFlag("add_dir", ("--add-dir",), "list", help="Additional working directory"),
    RunFlag("settings", ("--settings",), "list", help="Extra settings JSON file"),
    RunFlag("setting_sources", ("--setting-sources",), "str", help="user,project,local"),
    RunFlag("mcp_config", ("--mcp-config",), "list", help="File or inline JSON"),
    RunFlag("strict_mcp_config", ("--strict-mcp-config",), "bool", False),
    RunFlag("agents", ("--agents",), "str", help="Subagents as inline JSON"),
    RunFlag("plugin_dir", ("--plugin-dir",), "list", help="Load a plugin from a directory"),
    RunFlag("include_partial_messages", ("--include-partial-messages",), "bool", False),
    RunFlag("replay_user_messages", ("--replay-user-messages",), "bool", False),
    RunFlag("include_hook_events", ("--include-hook-events",), "bool", False, hidden=True),
    RunFlag("network", ("--network",), "bool", False, "Let the sandbox reach the network"),
    RunFlag(
        "unsandboxed",
        ("--dangerously-run-unsandboxed",),
        "bool",
        False,
        "Run Bash without bubblewrap (NOT isolated)",
    ),
    RunFlag("server", ("--server",), "str", help="Run on a Dexa server instead of in-process"),
    RunFlag(
        "no_attach",
        ("--no-attach",),
        "bool",
        False,
        "Run in this process even when a `dexa serve` for this DEXA_HOME is running",
    ),
)
