"""Auto-attach: a headless `dexa run -p` runs on the `dexa serve` of its DEXA_HOME when one is running.

`dexa serve` records itself in `<DEXA_HOME>/serve.json` (pid, URL, a fingerprint of its environment) once it
listens, and removes the file when it stops. A run attaches, as `--server URL` would, only when all of these hold,
so that the server runs the session exactly as this process would have:
- the file names a live process, and its URL is a loopback address that accepts a connection;
- the run's working directory is inside one of the server's workspace roots for the local org (the directory
  `dexa serve` was started in, or `$DEXA_HOME/workspaces/org_local`), where the server accepts sessions;
- the server's environment fingerprint equals this process's (same model endpoint and key, same DEXA_* settings,
  same PATH for Bash...), leaving out variables a shell changes on its own (PWD, SHLVL, the server's token);
- the run uses only what the thin client sends to a server: a text prompt, model, permission mode and rules,
  tools, system prompts, turn and budget limits, network, with text or json output. Anything else (--resume,
  --continue, --mcp-config, --settings, --add-dir, --agents, --plugin-dir, stream-json in or out, an SDK's
  --permission-prompt-tool...) runs in-process.
`--no-attach` (or DEXA_NO_ATTACH=1) always runs in-process. Attached, the engine is warm: no SDK import, no
settings load, no SQLite open per run (benchmarks/headless.py reports both figures).
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

from dexa.cli.run_options import RunOptions

SERVER_FILE = "serve.json"
# Variables a shell or a launcher changes by itself; they do not change what a session does.
_VOLATILE = frozenset({"PWD", "OLDPWD", "SHLVL", "_", "DEXA_TOKEN", "DEXA_SERVER", "DEXA_NO_ATTACH", "TERM", "COLUMNS"})
# Flags the thin client does not send to a server (remote.py): a run using any of them stays in-process.
_IN_PROCESS_ONLY = (
    "resume",
    "continue_",
    "fork_session",
    "session_id",
    "fallback_model",
    "add_dir",
    "settings",
    "setting_sources",
    "mcp_config",
    "strict_mcp_config",
    "agents",
    "plugin_dir",
    "permission_prompt_tool",
    "include_partial_messages",
    "replay_user_messages",
    "include_hook_events",
    "unsandboxed",
)
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


def dexa_home(env: Mapping[str, str]) -> Path:
    """DEXA_HOME as dexa.settings reads it, without loading the settings (pydantic) on the fast path."""
    raw = env.get("DEXA_HOME", "").strip()
    if raw:
        return Path(raw)
    from dexa.settings import default_home

    return default_home()


def env_fingerprint(env: Mapping[str, str]) -> str:
    items = sorted((k, v) for k, v in env.items() if k not in _VOLATILE)
    return hashlib.sha256(json.dumps(items).encode()).hexdigest()


def record_server(home: Path, url: str, env: Mapping[str, str], roots: Sequence[str]) -> Path:
    """Write `<home>/serve.json` for this process (atomically, owner-only); `dexa serve` calls it once listening.
    `roots`: the directories the server starts the local org's sessions in."""
    home.mkdir(parents=True, exist_ok=True)
    path = home / SERVER_FILE
    tmp = path.with_name(f".{SERVER_FILE}.{os.getpid()}")
    record = {"pid": os.getpid(), "url": url, "env": env_fingerprint(env), "roots": [str(r) for r in roots]}
    tmp.write_text(json.dumps(record))
    tmp.chmod(0o600)
    tmp.replace(path)
    return path


def forget_server(home: Path) -> None:
    """Remove `<home>/serve.json` if this process wrote it (a newer server's file is left alone)."""
    path = home / SERVER_FILE
    record = _read(path)
    if record is not None and record.get("pid") == os.getpid():
        path.unlink(missing_ok=True)


def forget_on_sigterm(home: Path) -> None:
    """On SIGTERM, remove this process's record, then end by the signal as before (the default action)."""
    import signal

    def on_term(signum: int, frame: object) -> None:
        forget_server(home)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.raise_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, on_term)


def attachable_server(opts: RunOptions, values: Mapping[str, Any], env: Mapping[str, str]) -> tuple[str, str] | None:
    """(URL, token) of this home's running `dexa serve` when this run may attach to it (see the module docstring)."""
    if env.get("DEXA_NO_ATTACH", "").strip().lower() in ("1", "true", "yes"):
        return None
    if opts.input_format != "text" or opts.output_format == "stream-json" or not opts.prompt:
        return None  # stream-json is for programs (the Agent SDKs) that read the in-process init message's inventory
    if any(values.get(name) for name in _IN_PROCESS_ONLY):
        return None
    home = dexa_home(env)
    record = _read(home / SERVER_FILE)
    if record is None or record.get("env") != env_fingerprint(env):
        return None
    pid, url, roots = record.get("pid"), record.get("url"), record.get("roots")
    if not isinstance(pid, int) or not isinstance(url, str) or not isinstance(roots, list):
        return None
    root_paths = [Path(str(r)) for r in cast(list[object], roots)]
    if not _inside_any(Path(opts.cwd), root_paths) or not _alive(pid):
        return None
    parts = urlsplit(url)
    if parts.hostname not in _LOOPBACK or parts.port is None or not _accepts(parts.hostname, parts.port):
        return None
    from dexa.auth.bootstrap import read_local_token

    token = env.get("DEXA_TOKEN") or read_local_token(home)
    return (url, token) if token else None


def _read(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None  # pyright: ignore[reportUnknownVariableType]


def _inside_any(cwd: Path, roots: list[Path]) -> bool:
    try:
        here = cwd.resolve()
        return any(here == r.resolve() or r.resolve() in here.parents for r in roots)
    except (OSError, RuntimeError):
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process reusing the pid: not our server
        return False
    return True


def _accepts(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=0.5).close()
    except OSError:
        return False
    return True
