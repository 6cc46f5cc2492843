"""Load and merge Claude Code's settings layers (reference §1) into one `EffectiveSettings`.

Never raises for bad input: a malformed file or key becomes a `SettingsProblem` (JSON errors name the line and
column), loading continues with the valid layers and keys, and the caller reports the problems as events.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Collection, Mapping
from typing import Any

from .hooks import HookMatcherGroup, HooksConfig, filter_groups, parse_hooks
from .locations import local_settings_dir, user_config_dir
from .merge import merge_dexa, merge_env, merge_mode, pooled_dirs, scalar
from .rules import Behavior, rule_problem, split_tool_list
from .settings import EffectiveSettings, Layer, RuleEntry, Scope, SettingsProblem
from .trust import TrustDecision, filter_project_layer

logger = logging.getLogger(__name__)

DEFAULT_MANAGED_PATH = "/etc/claude-code/managed-settings.json"
MAX_SETTINGS_BYTES = 2 * 1024 * 1024
_UNSET = object()


def read_json_file(path: str, problems: list[SettingsProblem]) -> dict[str, Any] | None:
    """The file's object, None when absent; any other failure is recorded and yields None."""
    try:
        size = os.path.getsize(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        problems.append(SettingsProblem(path, "", f"cannot read: {exc.strerror or exc}"))
        return None
    if os.path.isdir(path):
        problems.append(SettingsProblem(path, "", "is a directory, expected a JSON file"))
        return None
    if size > MAX_SETTINGS_BYTES:
        problems.append(SettingsProblem(path, "", f"larger than {MAX_SETTINGS_BYTES} bytes; ignored"))
        return None
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(SettingsProblem(path, "", f"cannot read: {exc}"))
        return None
    return parse_json_text(text, path, problems)


def parse_json_text(text: str, source: str, problems: list[SettingsProblem]) -> dict[str, Any] | None:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        problems.append(
            SettingsProblem(source, "", f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}; ignored")
        )
        return None
    if not isinstance(data, dict):
        problems.append(SettingsProblem(source, "", f"top level must be a JSON object, got {type(data).__name__}"))
        return None
    return data


def _managed_layers(
    org_policy: Mapping[str, Any] | None, managed_path: str | None, cwd: str, problems: list[SettingsProblem]
) -> list[Layer]:
    # The first managed source that delivers a key wins, no merging (reference §1.3): org policy first.
    if org_policy:
        return [Layer("policy", "managed", cwd, org_policy)]
    if not managed_path:
        return []
    layers: list[Layer] = []
    base = read_json_file(managed_path, problems)
    if base is not None:
        layers.append(Layer(managed_path, "managed", os.path.dirname(managed_path), base))
    drop_dir = os.path.join(os.path.dirname(managed_path), "managed-settings.d")
    if os.path.isdir(drop_dir):
        for name in sorted(os.listdir(drop_dir)):
            if name.startswith(".") or not name.endswith(".json"):
                continue
            path = os.path.join(drop_dir, name)
            data = read_json_file(path, problems)
            if data is not None:
                layers.append(Layer(path, "managed", drop_dir, data))
    # Drop-ins are merged after the base, so the last one has the final say on scalars.
    return list(reversed(layers))


def _cli_layers(cli: Mapping[str, Any], cwd: str, problems: list[SettingsProblem]) -> list[Layer]:
    flags: dict[str, Any] = {}
    permissions: dict[str, Any] = {}
    for flag, key in (("allowedTools", "allow"), ("disallowedTools", "deny")):
        values = cli.get(flag)
        if values:
            permissions[key] = split_tool_list([values] if isinstance(values, str) else list(values))
    if cli.get("permissionMode"):
        permissions["defaultMode"] = cli["permissionMode"]
    add_dirs = cli.get("addDir") or cli.get("additionalDirectories")
    if add_dirs:
        permissions["additionalDirectories"] = [add_dirs] if isinstance(add_dirs, str) else list(add_dirs)
    if permissions:
        flags["permissions"] = permissions
    if cli.get("model"):
        flags["model"] = cli["model"]
    layers = [Layer("cli", "cli", cwd, flags)] if flags else []
    settings_values = cli.get("settings") or []
    for value in [settings_values] if isinstance(settings_values, str) else settings_values:
        text = str(value).strip()
        if text.startswith("{"):
            data = parse_json_text(text, "cli:--settings", problems)
            if data is not None:
                layers.append(Layer("cli:--settings", "cli", cwd, data))
            continue
        path = os.path.abspath(os.path.join(cwd, text))
        if not os.path.exists(path):
            problems.append(SettingsProblem(path, "", "--settings file does not exist"))
            continue
        data = read_json_file(path, problems)
        if data is not None:
            layers.append(Layer(path, "cli", os.path.dirname(path), data))
    return layers


def load_settings(
    cwd: str,
    *,
    home: str | None = None,
    cli: Mapping[str, Any] | None = None,
    org_policy: Mapping[str, Any] | None = None,
    managed_path: str | None = DEFAULT_MANAGED_PATH,
    env: Mapping[str, str] | None = None,
    setting_sources: Collection[str] | None = None,
    trusted: bool = True,
    hosted: bool = False,
    trust: TrustDecision | None = None,
) -> tuple[EffectiveSettings, list[SettingsProblem]]:
    """Read every layer and merge them.

    `setting_sources` limits the file layers like `--setting-sources user,project,local` (managed and
    command-line layers always load). `trust` says which widening keys the project layers (`settings.json`,
    `settings.local.json`) may use; held keys become one problem per file (config/trust.py). `trusted=False` is
    the same as an untrusted `trust`. `hosted=True` applies cloud-session semantics:
    bypassPermissions/dontAsk from settings files are ignored.
    """
    env = os.environ if env is None else env
    home = os.path.abspath(home or os.path.expanduser("~"))
    cwd = os.path.abspath(cwd)
    problems: list[SettingsProblem] = []
    wanted = set(setting_sources) if setting_sources is not None else {"user", "project", "local"}
    layers = _managed_layers(org_policy, managed_path, cwd, problems)
    layers += _cli_layers(cli or {}, cwd, problems)
    file_layers: list[tuple[Scope, str, str]] = [
        ("local", os.path.join(local_settings_dir(cwd, home), ".claude", "settings.local.json"), cwd),
        ("project", os.path.join(cwd, ".claude", "settings.json"), cwd),
        ("user", os.path.join(user_config_dir(home, env), "settings.json"), user_config_dir(home, env)),
    ]
    if trust is None:
        trust = TrustDecision.trusted() if trusted else TrustDecision.untrusted()
    for scope, path, anchor in file_layers:
        if scope in wanted and (data := read_json_file(path, problems)) is not None:
            if scope in ("project", "local"):
                data, held = filter_project_layer(data, trust)
                if held:
                    problems.append(SettingsProblem(path, ", ".join(held), f"{trust.reason}; held"))
            layers.append(Layer(path, scope, anchor, data))
    return _merge(layers, cwd=cwd, home=home, trusted=True, hosted=hosted, problems=problems), problems


def _permissions(layer: Layer, problems: list[SettingsProblem]) -> Mapping[str, Any]:
    perms = layer.data.get("permissions", {})
    if not isinstance(perms, Mapping):
        problems.append(SettingsProblem(layer.source, "permissions", "expected an object; key ignored"))
        return {}
    return perms


def _rules(
    layers: list[Layer], behavior: Behavior, *, trusted: bool, problems: list[SettingsProblem]
) -> list[RuleEntry]:
    out: list[RuleEntry] = []
    for layer in layers:
        values = _permissions(layer, problems).get(behavior)
        if values is None:
            continue
        key = f"permissions.{behavior}"
        if not isinstance(values, list):
            problems.append(SettingsProblem(layer.source, key, "expected a list of rule strings; key ignored"))
            continue
        if behavior == "allow" and layer.scope == "project" and not trusted:
            problems.append(SettingsProblem(layer.source, key, "this workspace has not been trusted; allow rules held"))
            continue
        for i, value in enumerate(values):
            if not isinstance(value, str):
                problems.append(SettingsProblem(layer.source, f"{key}[{i}]", "expected a string; entry skipped"))
                continue
            usable, warning = rule_problem(value, behavior, from_file=layer.source != "cli")
            if warning:
                problems.append(SettingsProblem(layer.source, f"{key}[{i}]", warning))
            if usable:
                out.append(RuleEntry(rule=value.strip(), source=layer.source, anchor=layer.anchor, scope=layer.scope))
    return out


def _merge(
    layers: list[Layer], *, cwd: str, home: str, trusted: bool, hosted: bool, problems: list[SettingsProblem]
) -> EffectiveSettings:
    managed = [layer for layer in layers if layer.scope == "managed"]
    managed_only = any(_permissions(m, []).get("allowManagedPermissionRulesOnly") is True for m in managed) or any(
        m.data.get("allowManagedPermissionRulesOnly") is True for m in managed
    )
    rule_layers = managed if managed_only else layers
    behaviors: tuple[Behavior, ...] = ("allow", "ask", "deny")
    rules = {b: _rules(rule_layers, b, trusted=trusted, problems=problems) for b in behaviors}
    sources: dict[str, str] = {}
    default_mode, mode_source = merge_mode(layers, hosted=hosted, problems=problems)
    if mode_source:
        sources["permissions.defaultMode"] = mode_source
    model = scalar(layers, ("model",), str, problems, sources)
    groups: list[HookMatcherGroup] = []
    for layer in layers:
        if "hooks" in layer.data:
            found, hook_problems = parse_hooks(layer.data["hooks"], source=layer.source, scope=layer.scope)
            groups.extend(found)
            problems.extend(hook_problems)
    disable_all = [layer.scope for layer in layers if layer.data.get("disableAllHooks") is True]
    hooks = HooksConfig(
        filter_groups(
            groups,
            disable_non_managed=bool(disable_all),
            disable_managed="managed" in disable_all,
            managed_only=any(m.data.get("allowManagedHooksOnly") is True for m in managed),
        )
    )
    bypass_disabled = False
    for layer in layers:
        value = _permissions(layer, []).get("disableBypassPermissionsMode", _UNSET)
        if value is _UNSET:
            continue
        if value == "disable":
            bypass_disabled = True  # works from any scope: the stricter value wins
        else:
            problems.append(
                SettingsProblem(
                    layer.source,
                    "permissions.disableBypassPermissionsMode",
                    f'expected "disable", got {value!r}; ignored',
                )
            )
    http_urls = [
        u
        for layer in layers
        if isinstance(layer.data.get("allowedHttpHookUrls"), list)
        for u in layer.data["allowedHttpHookUrls"]
        if isinstance(u, str)
    ]
    excludes = [
        pattern
        for layer in layers
        if layer.scope != "project" and isinstance(layer.data.get("claudeMdExcludes"), list)
        for pattern in layer.data["claudeMdExcludes"]
        if isinstance(pattern, str) and pattern
    ]
    return EffectiveSettings(
        cwd=cwd,
        home=home,
        hooks=hooks,
        claude_md_excludes=tuple(dict.fromkeys(excludes)),
        allow=tuple(rules["allow"]),
        ask=tuple(rules["ask"]),
        deny=tuple(rules["deny"]),
        default_mode=default_mode,
        default_mode_source=mode_source,
        additional_directories=tuple(pooled_dirs(layers, cwd=cwd, home=home, trusted=trusted, problems=problems)),
        disable_bypass_permissions_mode=bypass_disabled,
        allow_managed_permission_rules_only=managed_only,
        env=merge_env(layers, problems),
        model=model,
        allowed_http_hook_urls=tuple(http_urls) if any("allowedHttpHookUrls" in x.data for x in layers) else None,
        dexa=merge_dexa(layers, problems, sources),
        files=tuple(dict.fromkeys(layer.source for layer in layers)),
        scalar_sources=sources,
    )
