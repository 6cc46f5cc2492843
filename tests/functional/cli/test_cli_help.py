"""`dexa --help` as a user reads it, and shell completion as bash and zsh call it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

DEXA = str(Path(sys.executable).parent / "dexa")


def _dexa(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "COLUMNS": "100", **(env or {})}
    return subprocess.run([DEXA, *args], env=full, capture_output=True, text=True, timeout=60)


def test_help_shows_no_value_type_for_flags_and_each_command_once() -> None:
    top = _dexa("--help")
    chat = _dexa("chat", "--help")
    assert top.returncode == 0 and chat.returncode == 0
    for out in (top.stdout, chat.stdout):
        assert "<bool>" not in out
    assert "<str>" in chat.stdout  # options that take a value still say what they take
    commands = [line.split()[1] for line in top.stdout.splitlines() if line.startswith("│ ") and len(line.split()) > 1]
    assert commands.count("plugins") == 1 and "plugin" not in commands
    assert "doctor" in commands and "--install-completion" in top.stdout


def test_bash_completion_completes_commands_and_options() -> None:
    # From bash, as a user types it: typer detects the shell from the parent process (`; true` keeps bash the
    # parent rather than exec-ing dexa in its place).
    script = subprocess.run(
        ["bash", "-c", f"{DEXA} --show-completion; true"], capture_output=True, text=True, timeout=60
    )
    assert "_dexa_completion" in script.stdout and "complete -o default -F _dexa_completion dexa" in script.stdout
    words = _dexa(env={"_DEXA_COMPLETE": "complete_bash", "COMP_WORDS": "dexa ch", "COMP_CWORD": "1"})
    assert words.stdout.split() == ["chat", "checkpoints"]
    opts = _dexa(env={"_DEXA_COMPLETE": "complete_bash", "COMP_WORDS": "dexa chat --per", "COMP_CWORD": "2"})
    assert opts.stdout.split() == ["--permission-mode"]


def test_zsh_completion_offers_the_plugins_command_not_its_hidden_alias() -> None:
    out = _dexa(env={"_DEXA_COMPLETE": "complete_zsh", "_TYPER_COMPLETE_ARGS": "dexa plu"}).stdout
    assert '"plugins"' in out and '"plugin"' not in out
