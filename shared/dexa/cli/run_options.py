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
