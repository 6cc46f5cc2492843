"""Workspace trust: which keys of a repository's own settings may take effect (reference §1.4).

A repository is untrusted input. Until its workspace is trusted, its project layers (`.claude/settings.json`,
`.claude/settings.local.json`, `.mcp.json`) can only narrow what a session may do: deny and ask rules, a stricter
mode, fewer hooks. Anything that widens (allow rules, hooks, `env`, MCP servers, plugins, extra directories) is
held, with one problem naming the file and the keys.

Locally, trust is Claude Code's own record: `projects["<repo root>"].hasTrustDialogAccepted` in `~/.claude.json`,
written by Claude Code's dialog or by `dexa trust`. In the service, an org admin's policy (`dexa.trust.projectKeys`)
lists the keys a repository may set; a project can never add host directories there, whatever the policy says.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .locations import local_settings_dir

# Top-level keys that only narrow what a session may do, so an untrusted project may set them.
_NARROWING_KEYS = frozenset(
    {
        "$schema",
        "disableAllHooks",
        "model",
        "outputStyle",
        "includeCoAuthoredBy",
        "cleanupPeriodDays",
        "language",
        "alwaysThinkingEnabled",
        "spinnerTipsEnabled",
        "allowedHttpHookUrls",
    }
)
_NARROWING_PERMISSION_KEYS = frozenset({"deny", "ask", "disableBypassPermissionsMode"})
# Modes that ask at least as often as `default`.
_NARROWING_MODES = frozenset({"default", "plan"})
# Dexa's own keys: budgets and limits only narrow; `network` is narrowed by the egress merge, never widened.
_NARROWING_DEXA_KEYS = frozenset({"budgetUsd", "maxTurns", "loopDetection", "network"})
# What a project may never set in the service, whatever the org's trust policy says.
HOSTED_NEVER = frozenset({"permissions.additionalDirectories"})
# Keys an org can let repositories set: the names `dexa.trust.projectKeys` uses.
GRANTABLE_KEYS = frozenset(
    {
        "hooks",
        "env",
        "permissions.allow",
        "permissions.defaultMode",
        "mcpServers",
        "enabledPlugins",
        "extraKnownMarketplaces",
        "dexa.outputPolicy",
    }
)
UNTRUSTED_MESSAGE = "this workspace has not been trusted (`dexa trust` trusts it)"
CONTROL_FILES = (".claude/settings.json", ".claude/settings.local.json", ".mcp.json")


@dataclass(frozen=True, slots=True)
class TrustDecision:
    """Which widening keys a session's project layers may use. `all_keys` is a trusted workspace."""

    all_keys: bool
    keys: frozenset[str] = frozenset()
    reason: str = UNTRUSTED_MESSAGE

    @classmethod
    def trusted(cls) -> TrustDecision:
        return cls(all_keys=True, reason="")

    @classmethod
    def untrusted(cls, reason: str = UNTRUSTED_MESSAGE) -> TrustDecision:
        return cls(all_keys=False, reason=reason)

    def allows(self, key: str) -> bool:
        return self.all_keys or key in self.keys

    @property
    def mcp_servers(self) -> bool:
        return self.allows("mcpServers")


def filter_project_layer(data: Mapping[str, Any], trust: TrustDecision) -> tuple[dict[str, Any], list[str]]:
    """The part of a project settings document that takes effect, and the dotted keys held back."""
    if trust.all_keys:
        return dict(data), []
    kept: dict[str, Any] = {}
    held: list[str] = []
    for key, value in data.items():
        if key in _NARROWING_KEYS or trust.allows(key):
            kept[key] = value
        elif key == "permissions" and isinstance(value, Mapping):
            kept[key] = _filter_section(value, "permissions", trust, held)
        elif key == "dexa" and isinstance(value, Mapping):
            kept[key] = _filter_section(value, "dexa", trust, held)
        else:
            held.append(key)
    return kept, held


def _filter_section(section: Mapping[str, Any], prefix: str, trust: TrustDecision, held: list[str]) -> dict[str, Any]:
    narrowing = _NARROWING_PERMISSION_KEYS if prefix == "permissions" else _NARROWING_DEXA_KEYS
    out: dict[str, Any] = {}
    for key, value in section.items():
        dotted = f"{prefix}.{key}"
        if key in narrowing or trust.allows(dotted):
            out[key] = value
        elif dotted == "permissions.defaultMode" and value in _NARROWING_MODES:
            out[key] = value
        else:
            held.append(dotted)
    return out


def hosted_trust(org_policy: Mapping[str, Any] | None) -> TrustDecision:
    """The org's word on what repositories may set (`dexa.trust.projectKeys`); nothing widening by default."""
    dexa = (org_policy or {}).get("dexa")
    trust = dexa.get("trust") if isinstance(dexa, Mapping) else None
    keys = trust.get("projectKeys") if isinstance(trust, Mapping) else None
    if not isinstance(keys, list):
        return TrustDecision.untrusted("the organisation's policy lets repositories set no widening keys")
    granted = frozenset(str(k) for k in keys if str(k) in GRANTABLE_KEYS) - HOSTED_NEVER
    return TrustDecision(all_keys=False, keys=granted, reason="not allowed for repositories by the organisation")


# ----------------------------------------------------------------------------- local trust (~/.claude.json)


def trust_root(cwd: str, home: str) -> str:
    """Where trust is keyed: the git repo root (main checkout for a worktree), else the directory itself."""
    return local_settings_dir(cwd, home)


def _global_config_path(home: str, env: Mapping[str, str] | None = None) -> str:
    env = os.environ if env is None else env
    base = env.get("CLAUDE_CONFIG_DIR")
    return os.path.join(base, ".claude.json") if base else os.path.join(home, ".claude.json")


def _read_global(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _candidates(root: str) -> Iterable[str]:
    """The root and its parents: trusting a parent directory trusts what is under it, as in Claude Code."""
    path = os.path.abspath(root)
    while True:
        yield path
        parent = os.path.dirname(path)
        if parent == path:
            return
        path = parent


def is_trusted(cwd: str, home: str, env: Mapping[str, str] | None = None) -> bool:
    """Has the user trusted this workspace (Claude Code's dialog or `dexa trust`)? $HOME itself never is."""
    root = trust_root(cwd, home)
    if os.path.abspath(root) == os.path.abspath(home):
        return False
    projects = _read_global(_global_config_path(home, env)).get("projects")
    if not isinstance(projects, dict):
        return False
    for path in _candidates(root):
        entry = projects.get(path)
        if isinstance(entry, dict) and entry.get("hasTrustDialogAccepted") is True:
            return entry.get("dexaChangedDuringSession") is None
    return False


def set_trust(cwd: str, home: str, *, trusted: bool = True, env: Mapping[str, str] | None = None) -> str:
    """Record (or revoke) trust for `cwd`'s workspace in `~/.claude.json`, keeping every other key. Returns the root."""
    root = trust_root(cwd, home)
    path = _global_config_path(home, env)

    def change(entry: dict[str, Any]) -> None:
        entry["hasTrustDialogAccepted"] = trusted
        entry.pop("dexaChangedDuringSession", None)

    _update_project(path, root, change)
    return root


def mark_changed(cwd: str, home: str, detail: str, env: Mapping[str, str] | None = None) -> None:
    """A session saw the workspace's control files change: they count again only after a new `dexa trust`."""
    root = trust_root(cwd, home)
    _update_project(
        _global_config_path(home, env), root, lambda entry: entry.__setitem__("dexaChangedDuringSession", detail)
    )


def _update_project(path: str, root: str, change: Any) -> None:
    data = _read_global(path)
    projects = data.get("projects")
    if not isinstance(projects, dict):
        projects = {}
        data["projects"] = projects
    entry = projects.get(root)
    if not isinstance(entry, dict):
        entry = {}
        projects[root] = entry
    change(entry)
    directory = os.path.dirname(path) or "."
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".claude.json.", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def control_digest(roots: Collection[str]) -> str:
    """A fingerprint of the files that configure a session, to notice them changing during it."""
    import hashlib

    digest = hashlib.sha256()
    for root in roots:
        for name in CONTROL_FILES:
            path = os.path.join(root, name)
            digest.update(f"{path}\0".encode())
            try:
                with open(path, "rb") as fh:
                    digest.update(fh.read(4 << 20))
            except OSError:
                digest.update(b"<absent>")
            digest.update(b"\0")
    return digest.hexdigest()


def session_trust(
    cwd: str, *, home: str, local: bool, org_policy: Mapping[str, Any] | None, env: Mapping[str, str] | None = None
) -> TrustDecision:
    """Trust for a session: the user's own record on their machine, the org's policy anywhere else."""
    if not local:
        return hosted_trust(org_policy)
    return TrustDecision.trusted() if is_trusted(cwd, home, env) else TrustDecision.untrusted()
