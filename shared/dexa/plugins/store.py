"""Add marketplaces, install / uninstall / enable / disable plugins (what `dexa plugins` drives).

Installing is an explicit trust decision: the plugin is fetched into a staging directory and loaded, the caller's
`confirm` callback sees what in it executes code (hooks, MCP servers, bin/), and only then is it moved into the cache
and recorded. Nothing is installed or enabled because a repository's settings mention it.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dexa.core.errors import ConfigError, NotFoundError

from .components import LoadedPlugin, load_plugin
from .manifest import MANIFEST
from .marketplace import Marketplace, MarketplaceEntry, entry_path, load_marketplace
from .sources import MarketplacePolicy, clone, describe_source, fetch_plugin, github_url, parse_marketplace_source
from .state import (
    Scope,
    data_dir_name,
    extra_known_marketplaces,
    plugin_id,
    read_doc,
    set_enabled,
    split_id,
    write_doc,
)

Confirm = Callable[[LoadedPlugin], bool]
_MARKETPLACE_ONLY = ("source", "category", "tags", "strict", "relevance")


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


@dataclass(frozen=True, slots=True, kw_only=True)
class InstalledPlugin:
    id: str
    name: str
    marketplace: str
    path: Path
    version: str
    scope: str
    enabled: bool = False
    commit: str | None = None


class PluginStore:
    def __init__(self, home: Path, *, cwd: Path | None = None, policy: MarketplacePolicy | None = None) -> None:
        self.home = home
        self.cwd = cwd or Path.cwd()
        self.policy = policy or MarketplacePolicy()
        self.root = home / ".claude" / "plugins"

    # ------------------------------------------------------------ marketplaces

    @property
    def _known_file(self) -> Path:
        return self.root / "known_marketplaces.json"

    def known(self) -> dict[str, Any]:
        return read_doc(self._known_file)

    def add_marketplace(self, source: str | Mapping[str, Any]) -> Marketplace:
        """Register a marketplace from a directory, a marketplace.json, a git URL/path (cloned) or owner/repo.

        A name listed in the settings' `extraKnownMarketplaces` uses that entry's source: a repository can
        suggest marketplaces, but adding one is always this explicit step.
        """
        if isinstance(source, str):
            suggested = extra_known_marketplaces(home=self.home, cwd=self.cwd).get(source)
            spec = dict(suggested) if suggested else parse_marketplace_source(source, cwd=str(self.cwd))
        else:
            spec = dict(source)
        if spec.get("source") in ("directory", "file"):
            spec["path"] = str((self.cwd / os.path.expanduser(str(spec.get("path", "")))).resolve())
        self.policy.check(spec)
        if spec["source"] in ("directory", "file"):
            location = Path(spec["path"])
        elif spec["source"] in ("git", "github"):
            url = github_url(spec["repo"]) if spec["source"] == "github" else spec["url"]
            staging = Path(tempfile.mkdtemp(prefix="marketplace-", dir=self._ensure(self.root / "marketplaces")))
            shutil.rmtree(staging)
            clone(url, staging, ref=spec.get("ref"))
            location = staging
        else:
            raise ConfigError(f"marketplace source {describe_source(spec)} is not supported by Dexa yet")
        market, problems = load_marketplace(location)
        if market is None:
            if spec["source"] in ("git", "github"):
                shutil.rmtree(location, ignore_errors=True)
            raise ConfigError("; ".join(str(p) for p in problems))
        if spec["source"] in ("git", "github"):
            final = self.root / "marketplaces" / market.name
            shutil.rmtree(final, ignore_errors=True)
            location.rename(final)
            market, _ = load_marketplace(final)
            assert market is not None
        known = self.known()
        known[market.name] = {"source": spec, "installLocation": str(market.root), "lastUpdated": _now()}
        write_doc(self._known_file, known)
        return market

    def marketplace(self, name: str) -> Marketplace:
        info = self.known().get(name)
        if info is None:
            raise NotFoundError(f"unknown marketplace {name!r}; add it with `dexa plugins marketplace add`")
        market, problems = load_marketplace(Path(info["installLocation"]))
        if market is None:
            raise ConfigError("; ".join(str(p) for p in problems))
        return market

    def remove_marketplace(self, name: str) -> None:
        known = self.known()
        info = known.pop(name, None)
        if info is None:
            raise NotFoundError(f"unknown marketplace {name!r}")
        if info["source"].get("source") in ("git", "github"):
            shutil.rmtree(info["installLocation"], ignore_errors=True)
        write_doc(self._known_file, known)

    # ------------------------------------------------------------ install

    @property
    def _installed_file(self) -> Path:
        return self.root / "installed_plugins.json"

    def _records(self) -> dict[str, list[dict[str, Any]]]:
        doc = read_doc(self._installed_file)
        plugins = doc.get("plugins")
        return dict(plugins) if isinstance(plugins, dict) else {}  # pyright: ignore[reportUnknownArgumentType]

    def _save_records(self, records: Mapping[str, list[dict[str, Any]]]) -> None:
        write_doc(self._installed_file, {"version": 2, "plugins": dict(records)})

    def _resolve(self, ref: str) -> tuple[Marketplace, MarketplaceEntry]:
        name, market_name = split_id(ref)
        markets = [market_name] if market_name else list(self.known())
        for candidate in markets:
            market = self.marketplace(candidate)
            entry = market.entry(name)
            if entry is not None:
                return market, entry
        raise NotFoundError(f"plugin {ref!r} not found in {', '.join(markets) or 'any known marketplace'}")

    def install(self, ref: str, *, scope: Scope = "user", confirm: Confirm | None = None) -> InstalledPlugin:
        """Fetch, show, and (if confirmed) install and enable a plugin. Raises ConfigError when declined."""
        market, entry = self._resolve(ref)
        self.policy.check(self.known()[market.name]["source"])
        pid = plugin_id(entry.name, market.name)
        staging_parent = Path(tempfile.mkdtemp(prefix="install-", dir=self._ensure(self.root / "cache")))
        staging = staging_parent / entry.name
        try:
            commit = fetch_plugin(
                entry.source, staging, marketplace_root=market.root, relative=entry_path(market, entry)
            )
            self._apply_entry(staging, entry)
            data_dir = self.root / "data" / data_dir_name(pid)
            plugin, problems = load_plugin(staging, data_dir=data_dir, name_override=entry.name)
            if plugin is None:
                raise ConfigError("; ".join(str(p) for p in problems))
            if confirm is not None and not confirm(plugin):
                raise ConfigError(f"installation of {pid} was declined")
            version = plugin.manifest.version or entry.version or (commit[:12] if commit else "unversioned")
            final = self.root / "cache" / market.name / entry.name / version
            shutil.rmtree(final, ignore_errors=True)
            final.parent.mkdir(parents=True, exist_ok=True)
            staging.rename(final)
        finally:
            shutil.rmtree(staging_parent, ignore_errors=True)
        data_dir.mkdir(parents=True, exist_ok=True)
        records = self._records()
        record = {
            "scope": scope,
            "installPath": str(final),
            "version": version,
            "installedAt": _now(),
            "lastUpdated": _now(),
        }
        if commit:
            record["gitCommitSha"] = commit
        if scope != "user":
            record["projectPath"] = str(self.cwd)
        records[pid] = [r for r in records.get(pid, []) if r.get("scope") != scope] + [record]
        self._save_records(records)
        default_on = entry.default_enabled if entry.default_enabled is not None else plugin.manifest.default_enabled
        set_enabled(pid, default_on, scope=scope, home=self.home, cwd=self.cwd)
        return InstalledPlugin(
            id=pid,
            name=entry.name,
            marketplace=market.name,
            path=final,
            version=version,
            scope=scope,
            enabled=default_on,
            commit=commit,
        )

    @staticmethod
    def _apply_entry(root: Path, entry: MarketplaceEntry) -> None:
        """Strict entries add to plugin.json; `strict: false` entries are the whole definition (reference §8.3)."""
        extra = {k: v for k, v in entry.raw.items() if k not in _MARKETPLACE_ONLY}
        path = root / MANIFEST
        current: dict[str, Any] = read_doc(path) if path.is_file() else {}
        if entry.strict:
            merged = {**extra, **current}
        else:
            merged = {
                **{
                    k: v for k, v in current.items() if k not in ("commands", "agents", "skills", "hooks", "mcpServers")
                },
                **extra,
            }
        merged["name"] = entry.name  # the marketplace entry's name wins
        if merged != current:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(merged, indent=2) + "\n", encoding="utf-8")

    def uninstall(self, ref: str, *, scope: Scope = "user") -> str:
        pid = self._installed_id(ref)
        records = self._records()
        kept = [r for r in records.get(pid, []) if r.get("scope") != scope]
        for r in records.get(pid, []):
            if r.get("scope") == scope and not any(k.get("installPath") == r.get("installPath") for k in kept):
                shutil.rmtree(r["installPath"], ignore_errors=True)
        if kept:
            records[pid] = kept
        else:
            records.pop(pid, None)
        self._save_records(records)
        set_enabled(pid, None, scope=scope, home=self.home, cwd=self.cwd)
        return pid

    def set_enabled(self, ref: str, enabled: bool, *, scope: Scope = "user") -> str:
        pid = self._installed_id(ref)
        set_enabled(pid, enabled, scope=scope, home=self.home, cwd=self.cwd)
        return pid

    def _installed_id(self, ref: str) -> str:
        name, market = split_id(ref)
        ids = [pid for pid in self._records() if split_id(pid)[0] == name and market in (None, split_id(pid)[1])]
        if not ids:
            raise NotFoundError(f"plugin {ref!r} is not installed")
        if len(ids) > 1:
            raise ConfigError(f"{ref!r} is ambiguous: {', '.join(ids)}; use name@marketplace")
        return ids[0]

    def installed(self, enabled: Mapping[str, bool] | None = None) -> list[InstalledPlugin]:
        out: list[InstalledPlugin] = []
        for pid, records in self._records().items():
            if not records:
                continue
            # The most specific scope's copy is the one that runs.
            rank = {"local": 0, "project": 1, "user": 2}
            record = sorted(records, key=lambda r: rank.get(str(r.get("scope")), 3))[0]
            name, market = split_id(pid)
            out.append(
                InstalledPlugin(
                    id=pid,
                    name=name,
                    marketplace=market or "",
                    path=Path(record["installPath"]),
                    version=str(record.get("version", "")),
                    scope=str(record.get("scope")),
                    enabled=bool((enabled or {}).get(pid, False)),
                    commit=record.get("gitCommitSha"),
                )
            )
        return out

    @staticmethod
    def _ensure(path: Path) -> Path:
        path.mkdir(parents=True, exist_ok=True)
        return path
