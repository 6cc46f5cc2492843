"""MCP server configuration in Claude Code's `.mcp.json` format, with `${VAR}` / `${VAR:-default}` expansion.

Sources and precedence (first wins by server name, the winning entry is used whole, as in Claude Code):
org-managed servers (policy, cannot be overridden) > `--mcp-config` > local (`~/.claude.json` project entry)
> project `.mcp.json` > user (`~/.claude.json` top level). `--strict-mcp-config` keeps only `--mcp-config`
servers. Org allow/deny lists filter everything that is not org-managed.
"""

from __future__ import annotations

import fnmatch
import json
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

logger = logging.getLogger(__name__)

Transport = Literal["stdio", "http", "sse", "inproc"]
Scope = Literal["org", "session", "local", "project", "user", "integration", "managed"]

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
# Platform credentials never reach a customer's server, neither through its env nor through `${VAR}` expansion.
PLATFORM_SECRET_PREFIXES = ("ANTHROPIC_", "AWS_", "DEXA_", "MODAL_", "CLAUDE_CODE_")
PLATFORM_SECRET_NAMES = frozenset({"GITHUB_TOKEN", "GH_TOKEN", "OPENAI_API_KEY"})


def is_platform_secret(name: str) -> bool:
    return name in PLATFORM_SECRET_NAMES or name.startswith(PLATFORM_SECRET_PREFIXES)


@dataclass(frozen=True, slots=True, kw_only=True)
class ConfigProblem:
    file: str
    key: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"file": self.file, "key": self.key, "message": self.message}


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerConfig:
    """One MCP server a session may use."""

    name: str
    transport: Transport
    scope: Scope = "project"
    command: str = ""
    args: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    cwd: str | None = None
    url: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    description: str = ""
    timeout_s: float | None = None
    always_load: bool = False
    # Trusted servers (Dexa's managed ones) have annotations we wrote; others get the spec's pessimistic defaults.
    trusted: bool = False
    trusted_reads: bool = False
    integration_id: str | None = None
    # Kind of managed server ("email", "crm"...) so staged outputs can be typed and previewed.
    kind: str = ""
    source: str = ""
    # An in-process server object (managed servers); never serialised.
    server_object: Any = field(default=None, compare=False, repr=False)
    # An httpx2.Auth the control plane attaches to a remote server's requests (an integration's OAuth grant:
    # it adds and refreshes the bearer itself, so no token is copied into headers); never serialised.
    http_auth: Any = field(default=None, compare=False, repr=False)

    def public(self) -> dict[str, Any]:
        """A description safe to show or store: no env values, no header values."""
        return {
            "name": self.name,
            "transport": self.transport,
            "scope": self.scope,
            "command": self.command,
            "url": self.url,
            "description": self.description,
            "integration_id": self.integration_id,
            "kind": self.kind,
            "trusted": self.trusted,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class OrgMcpPolicy:
    """Org-level MCP policy: servers every session gets, and Claude Code style allow/deny lists.

    `allowed` is None for "no allowlist"; an empty list allows nothing (fails closed, as Claude Code does).
    Entries are `{"serverName": ...}`, `{"serverCommand": [...]}` or `{"serverUrl": "https://*.corp.com/*"}`.
    """

    servers: Mapping[str, Any] = field(default_factory=dict)
    allowed: Sequence[Mapping[str, Any]] | None = None
    denied: Sequence[Mapping[str, Any]] = ()
    exclusive: bool = False

    def permits(self, server: ServerConfig) -> bool:
        if any(_entry_matches(e, server) for e in self.denied):
            return False
        if self.allowed is None:
            return True
        return any(_entry_matches(e, server) for e in self.allowed)


def _entry_matches(entry: Mapping[str, Any], server: ServerConfig) -> bool:
    if "serverName" in entry:
        return fnmatch.fnmatchcase(server.name, str(entry["serverName"]))
    if "serverCommand" in entry:
        want = [str(x) for x in entry["serverCommand"]]
        return server.transport == "stdio" and [server.command, *server.args] == want
    if "serverUrl" in entry:
        return bool(server.url) and fnmatch.fnmatchcase(server.url, str(entry["serverUrl"]))
    return False


def expand(value: str, env: Mapping[str, str], missing: list[str]) -> str:
    """Expand `${VAR}` and `${VAR:-default}`; an unset variable without default stays literal (Claude Code)."""

    def sub(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in env and env[name] != "":
            return env[name]
        if default is not None:
            return default
        if name in env:
            return ""
        missing.append(name)
        return match.group(0)

    return _VAR.sub(sub, value)


def expansion_env(env: Mapping[str, str]) -> dict[str, str]:
    """The variables a config may reference: the process env minus platform credentials."""
    return {k: v for k, v in env.items() if not is_platform_secret(k)}


def parse_servers(
    data: Any, *, source: str, scope: Scope, env: Mapping[str, str]
) -> tuple[list[ServerConfig], list[ConfigProblem]]:
    """Parse `{"mcpServers": {...}}`. Bad entries become problems naming the file and key; good ones still load."""
    problems: list[ConfigProblem] = []
    if not isinstance(data, Mapping):
        return [], [ConfigProblem(file=source, key="", message="expected a JSON object with an mcpServers object")]
    raw = data.get("mcpServers", {})  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]
    if not isinstance(raw, Mapping):
        return [], [ConfigProblem(file=source, key="mcpServers", message="mcpServers must be an object")]
    servers: list[ServerConfig] = []
    safe_env = expansion_env(env)
    for name, entry in raw.items():  # pyright: ignore[reportUnknownVariableType]
        key = f"mcpServers.{name}"
        try:
            server = _parse_entry(str(name), entry, source=source, scope=scope, env=safe_env, problems=problems)  # pyright: ignore[reportUnknownArgumentType]
        except ValueError as exc:
            problems.append(ConfigProblem(file=source, key=key, message=str(exc)))
            continue
        servers.append(server)
    return servers, problems


def _strings(value: Any, what: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):  # pyright: ignore[reportUnknownVariableType]
        raise ValueError(f"{what} must be a list of strings")
    return list(value)  # pyright: ignore[reportUnknownArgumentType]


def _string_map(value: Any, what: str) -> dict[str, str]:
    if not isinstance(value, Mapping) or not all(isinstance(v, str | int | float | bool) for v in value.values()):  # pyright: ignore[reportUnknownVariableType]
        raise ValueError(f"{what} must be an object of strings")
    return {str(k): str(v) for k, v in value.items()}  # pyright: ignore[reportUnknownVariableType]


def _parse_entry(
    name: str, entry: Any, *, source: str, scope: Scope, env: Mapping[str, str], problems: list[ConfigProblem]
) -> ServerConfig:
    if not isinstance(entry, Mapping):
        raise ValueError("a server entry must be an object")
    kind = entry.get("type")  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]
    if kind is None:
        if "url" in entry:
            raise ValueError('url_missing_type: an entry with a url needs "type": "http" or "sse"')
        kind = "stdio"
    if kind == "streamable-http":
        kind = "http"
    if kind == "ws":
        raise ValueError("the ws transport is not supported (use http or sse)")
    if kind not in ("stdio", "http", "sse"):
        raise ValueError(f"unknown type {kind!r} (expected stdio, http or sse)")
    missing: list[str] = []
    timeout = entry.get("timeout")  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]
    if timeout is not None and not isinstance(timeout, int | float):
        raise ValueError("timeout must be a number of milliseconds")
    common: dict[str, Any] = {
        "name": name,
        "scope": scope,
        "source": source,
        "description": str(entry.get("description", "")),  # pyright: ignore[reportUnknownMemberType, reportUnknownArgumentType]
        "timeout_s": None if timeout is None else float(timeout) / 1000.0,
        "always_load": bool(entry.get("alwaysLoad", False)),  # pyright: ignore[reportUnknownMemberType, reportUnknownArgumentType]
    }
    if kind == "stdio":
        command = entry.get("command")  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]
        if not isinstance(command, str) or not command:
            raise ValueError('a stdio server needs a non-empty "command"')
        args = _strings(entry.get("args", []), "args")  # pyright: ignore[reportUnknownMemberType]
        server_env = _string_map(entry.get("env", {}), "env")  # pyright: ignore[reportUnknownMemberType]
        server = ServerConfig(
            transport="stdio",
            command=expand(command, env, missing),
            args=tuple(expand(a, env, missing) for a in args),
            env={k: expand(v, env, missing) for k, v in server_env.items()},
            **common,
        )
    else:
        url = entry.get("url")  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]
        if not isinstance(url, str) or not url:
            raise ValueError(f'a {kind} server needs a "url"')
        headers = _string_map(entry.get("headers", {}), "headers")  # pyright: ignore[reportUnknownMemberType]
        server = ServerConfig(
            transport=kind,
            url=expand(url, env, missing),  # pyright: ignore[reportArgumentType]
            headers={k: expand(v, env, missing) for k, v in headers.items()},
            **common,
        )
    for var in dict.fromkeys(missing):
        hint = " (platform credentials are never expanded)" if is_platform_secret(var) else ""
        problems.append(
            ConfigProblem(
                file=source,
                key=f"mcpServers.{name}",
                message=f"${{{var}}} is not set and has no default; left as literal text{hint}",
            )
        )
    return server


INVALID_CONFIG = "Invalid MCP configuration:"


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def check_mcp_config_arg(value: str, *, cwd: str | None = None) -> Any:
    """Validate one `--mcp-config` value (inline JSON or a path) the way Claude Code does; returns the data.

    Claude Code tries the value as JSON first and otherwise as a path relative to the working directory, so a
    broken inline JSON is reported as a missing file. Invalid entries are not an error here: they are skipped at
    session start and listed in the init message's `mcp_server_errors`.

    Raises:
        ValueError: Claude Code's detail line ("MCP config file not found: …", "MCP config is not a valid JSON",
            "mcpServers: Invalid input: expected record, received …").
    """
    try:
        data = json.loads(value)
    except json.JSONDecodeError:
        path = Path(cwd or ".", value).absolute() if not Path(value).is_absolute() else Path(value)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError:
            raise ValueError(f"MCP config file not found: {path}") from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            raise ValueError("MCP config is not a valid JSON") from None
    if not isinstance(data, dict):
        raise ValueError(f"Invalid input: expected object, received {_kind(data)}")
    servers = data.get("mcpServers")  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]
    if not isinstance(servers, dict):
        received = _kind(servers) if "mcpServers" in data else "undefined"
        raise ValueError(f"mcpServers: Invalid input: expected record, received {received}")
    return data  # pyright: ignore[reportUnknownVariableType]


def read_config_source(value: str) -> tuple[Any, str]:
    """`--mcp-config` takes a file path or an inline JSON string. Returns (data, source label).

    Raises:
        ValueError: naming the file and the JSON error.
    """
    text = value.strip()
    if text.startswith("{"):
        try:
            return json.loads(text), "<--mcp-config inline JSON>"
        except json.JSONDecodeError as exc:
            raise ValueError(f"--mcp-config inline JSON is invalid: {exc}") from exc
    path = Path(value)
    try:
        raw = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"{path}: cannot read MCP config ({exc.strerror or exc})") from exc
    try:
        return json.loads(raw), str(path)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from exc


@dataclass(frozen=True, slots=True, kw_only=True)
class ResolvedMcpConfig:
    servers: tuple[ServerConfig, ...]
    problems: tuple[ConfigProblem, ...]

    def get(self, name: str) -> ServerConfig | None:
        return next((s for s in self.servers if s.name == name), None)


def resolve_servers(
    *,
    project_dir: str | None,
    config_files: Sequence[str] = (),
    strict: bool = False,
    org: OrgMcpPolicy | None = None,
    env: Mapping[str, str] | None = None,
    home: Path | None = None,
    disabled: Sequence[str] = (),
    project_servers: bool = True,
    project_env: Mapping[str, str] | None = None,
) -> ResolvedMcpConfig:
    """All servers a session gets, by precedence, filtered by org policy. Never raises on bad files.

    `project_servers=False` holds the repository's `.mcp.json` (an untrusted workspace); `project_env` is what its
    `${VAR}`s may expand from (default: `env`), since a repository must not choose which variables it receives.
    """
    env = dict(env or {})
    if project_dir:
        env.setdefault("CLAUDE_PROJECT_DIR", project_dir)
    org = org or OrgMcpPolicy()
    problems: list[ConfigProblem] = []
    layers: list[list[ServerConfig]] = []
    org_servers, org_problems = parse_servers(
        {"mcpServers": dict(org.servers)}, source="<org policy>", scope="org", env=env
    )
    problems += org_problems
    layers.append(org_servers)
    if not org.exclusive:
        session: list[ServerConfig] = []
        for value in config_files:
            try:
                data, label = read_config_source(value)
            except ValueError as exc:
                problems.append(ConfigProblem(file=value, key="", message=str(exc)))
                continue
            found, bad = parse_servers(data, source=label, scope="session", env=env)
            session += found
            problems += bad
        layers.append(session)
        if not strict:
            repo_env = dict(project_env) if project_env is not None else env
            if project_dir:
                repo_env.setdefault("CLAUDE_PROJECT_DIR", project_dir)
            layers += _file_layers(project_dir if project_servers else None, home, env, problems, repo_env=repo_env)
            held = Path(project_dir or "") / ".mcp.json"
            if not project_servers and project_dir and held.is_file():
                problems.append(
                    ConfigProblem(
                        file=str(held),
                        key="mcpServers",
                        message="this workspace has not been trusted; its servers are held (run `dexa trust`)",
                    )
                )
    chosen: dict[str, ServerConfig] = {}
    for layer in layers:
        for server in layer:
            if server.name in chosen:
                continue
            if server.scope != "org" and not org.permits(server):
                problems.append(
                    ConfigProblem(
                        file=server.source,
                        key=f"mcpServers.{server.name}",
                        message="blocked by the organisation's MCP server policy",
                    )
                )
                continue
            if server.scope == "project" and server.name in disabled:
                continue
            chosen[server.name] = server
    if project_dir:
        chosen = {n: _with_project(s, project_dir) for n, s in chosen.items()}
    return ResolvedMcpConfig(servers=tuple(chosen.values()), problems=tuple(problems))


def _with_project(server: ServerConfig, project_dir: str) -> ServerConfig:
    if server.transport != "stdio":
        return server
    env = dict(server.env)
    env.setdefault("CLAUDE_PROJECT_DIR", project_dir)
    return replace(server, env=env, cwd=server.cwd or project_dir)


def _file_layers(
    project_dir: str | None,
    home: Path | None,
    env: Mapping[str, str],
    problems: list[ConfigProblem],
    *,
    repo_env: Mapping[str, str],
) -> list[list[ServerConfig]]:
    local: list[ServerConfig] = []
    user: list[ServerConfig] = []
    project: list[ServerConfig] = []
    claude_json = home / ".claude.json" if home else None
    if claude_json and claude_json.is_file():
        try:
            data = json.loads(claude_json.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            problems.append(ConfigProblem(file=str(claude_json), key="", message=f"unreadable: {exc}"))
            data = {}
        if isinstance(data, dict):
            user, bad = parse_servers(
                {"mcpServers": data.get("mcpServers", {})},
                source=str(claude_json),  # pyright: ignore[reportUnknownMemberType]
                scope="user",
                env=env,
            )
            problems += bad
            projects = data.get("projects", {})  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]
            entry = projects.get(project_dir, {}) if isinstance(projects, dict) and project_dir else {}  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]
            if isinstance(entry, dict) and entry.get("mcpServers"):  # pyright: ignore[reportUnknownMemberType]
                local, bad = parse_servers(
                    {"mcpServers": entry["mcpServers"]}, source=str(claude_json), scope="local", env=env
                )
                problems += bad
    if project_dir:
        path = Path(project_dir) / ".mcp.json"
        if path.is_file():
            try:
                data, label = read_config_source(str(path))
            except ValueError as exc:
                problems.append(ConfigProblem(file=str(path), key="", message=str(exc)))
            else:
                project, bad = parse_servers(data, source=label, scope="project", env=repo_env)
                problems += bad
    return [local, project, user]
