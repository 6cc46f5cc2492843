"""Plugins and marketplaces (reference §8): manifests, installation, and the components enabled plugins add."""

from __future__ import annotations

from .components import LoadedPlugin, load_plugin
from .manifest import PluginManifest, load_manifest
from .marketplace import Marketplace, MarketplaceEntry, load_marketplace
from .sources import MarketplacePolicy
from .state import enabled_plugins, plugin_id
from .store import InstalledPlugin, PluginStore

__all__ = [
    "InstalledPlugin",
    "LoadedPlugin",
    "Marketplace",
    "MarketplaceEntry",
    "MarketplacePolicy",
    "PluginManifest",
    "PluginStore",
    "enabled_plugins",
    "load_manifest",
    "load_marketplace",
    "load_plugin",
    "plugin_id",
]
