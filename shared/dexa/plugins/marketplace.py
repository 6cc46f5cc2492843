"""`.claude-plugin/marketplace.json` (reference §8.3) and the source specs marketplaces and plugins come from."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from dexa.config.settings import SettingsProblem

from .manifest import KEBAB, read_json

MARKETPLACE = Path(".claude-plugin") / "marketplace.json"
RESERVED_NAMES = frozenset(
    {
        "claude-code-marketplace",
        "claude-code-plugins",
        "claude-plugins-official",
        "anthropic-marketplace",
        "anthropic-plugins",
        "agent-skills",
        "official-claude-plugins",
    }
)
PLUGIN_SOURCES = frozenset({"github", "url", "git-subdir", "npm", "archive", "command"})


@dataclass(frozen=True, slots=True, kw_only=True)
class MarketplaceEntry:
    name: str
    source: str | dict[str, Any]
    description: str = ""
    version: str = ""
    strict: bool = True
    default_enabled: bool | None = None
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class Marketplace:
    name: str
    root: Path  # the directory that holds `.claude-plugin/`
    owner: dict[str, Any]
    plugins: tuple[MarketplaceEntry, ...]
    description: str = ""
    plugin_root: str = ""

    def entry(self, name: str) -> MarketplaceEntry | None:
        return next((p for p in self.plugins if p.name == name), None)


def _entry(raw: Any, index: int, file: str, problems: list[SettingsProblem]) -> MarketplaceEntry | None:
    where = f"plugins[{index}]"
    if not isinstance(raw, dict):
        problems.append(SettingsProblem(file, where, "must be an object with name and source"))
        return None
    name = raw.get("name")  # pyright: ignore[reportUnknownMemberType]
    if not isinstance(name, str) or not KEBAB.match(name):
        problems.append(SettingsProblem(file, f"{where}.name", f"is required and must be kebab-case, got {name!r}"))
        return None
    source = raw.get("source")  # pyright: ignore[reportUnknownMemberType]
    if isinstance(source, str):
        if source.startswith("/") or ".." in Path(source).parts:
            problems.append(
                SettingsProblem(
                    file,
                    f"{where}.source",
                    f"relative path {source!r} may not leave the marketplace (no ../ or absolute paths)",
                )
            )
            return None
    elif isinstance(source, dict):
        kind = source.get("source")  # pyright: ignore[reportUnknownMemberType]
        if kind not in PLUGIN_SOURCES:
            problems.append(
                SettingsProblem(
                    file, f"{where}.source.source", f"must be one of {', '.join(sorted(PLUGIN_SOURCES))}, got {kind!r}"
                )
            )
            return None
    else:
        problems.append(SettingsProblem(file, f"{where}.source", "is required: a ./relative path or a source object"))
        return None
    strict = raw.get("strict", True)  # pyright: ignore[reportUnknownMemberType]
    default_enabled = raw.get("defaultEnabled")  # pyright: ignore[reportUnknownMemberType]
    return MarketplaceEntry(
        name=name,
        source=source,  # pyright: ignore[reportUnknownArgumentType]
        description=str(raw.get("description", "")),  # pyright: ignore[reportUnknownMemberType, reportUnknownArgumentType]
        version=str(raw.get("version", "")),  # pyright: ignore[reportUnknownMemberType, reportUnknownArgumentType]
        strict=strict is not False,
        default_enabled=default_enabled if isinstance(default_enabled, bool) else None,
        raw=dict(raw),  # pyright: ignore[reportUnknownArgumentType]
    )


def parse_marketplace(data: Any, *, root: Path, file: str) -> tuple[Marketplace | None, list[SettingsProblem]]:
    problems: list[SettingsProblem] = []
    if not isinstance(data, dict):
        return None, [SettingsProblem(file, "", "marketplace.json must be a JSON object")]
    doc = cast(dict[str, Any], data)
    name = doc.get("name")
    if not isinstance(name, str) or not KEBAB.match(name):
        problems.append(SettingsProblem(file, "name", f"is required and must be kebab-case, got {name!r}"))
    elif name in RESERVED_NAMES:
        problems.append(SettingsProblem(file, "name", f"{name!r} is reserved for official Anthropic marketplaces"))
    owner = doc.get("owner")
    if not isinstance(owner, dict) or not isinstance(cast(dict[str, Any], owner).get("name"), str):
        problems.append(SettingsProblem(file, "owner.name", "is required"))
    plugins = doc.get("plugins")
    if not isinstance(plugins, list):
        problems.append(SettingsProblem(file, "plugins", "is required: a list of plugin entries"))
    if problems:
        return None, problems
    raw_entries = cast(list[Any], plugins)
    entries = [_entry(raw, i, file, problems) for i, raw in enumerate(raw_entries)]
    metadata = doc.get("metadata")
    meta = cast(dict[str, Any], metadata) if isinstance(metadata, dict) else {}
    return Marketplace(
        name=str(name),
        root=root,
        owner=dict(cast(dict[str, Any], owner)),
        plugins=tuple(e for e in entries if e is not None),
        description=str(doc.get("description", "")),
        plugin_root=str(meta.get("pluginRoot", "")),
    ), problems


def load_marketplace(root: Path) -> tuple[Marketplace | None, list[SettingsProblem]]:
    """Read `<root>/.claude-plugin/marketplace.json` (or `root` itself when it is the JSON file)."""
    file = root if root.is_file() else root / MARKETPLACE
    base = file.parent.parent if file.parent.name == ".claude-plugin" else file.parent
    if not file.is_file():
        return None, [SettingsProblem(str(file), "", "no marketplace here: .claude-plugin/marketplace.json is missing")]
    problems: list[SettingsProblem] = []
    data = read_json(file, problems)
    if data is None:
        return None, problems
    return parse_marketplace(data, root=base, file=str(file))


def entry_path(market: Marketplace, entry: MarketplaceEntry) -> Path | None:
    """Where a relative-path plugin lives inside the marketplace (bare names sit under metadata.pluginRoot)."""
    if not isinstance(entry.source, str):
        return None
    rel = entry.source
    if not rel.startswith("./") and market.plugin_root:
        rel = str(Path(market.plugin_root) / rel)
    return (market.root / rel).resolve()
