"""The app shell: one HTML page for every UI route, carrying a small JSON config the modules read at start."""

from __future__ import annotations

import html
import json
import logging
from pathlib import Path
from typing import Any, Final

from dexa.api.schemas.common import MODES
from dexa.core.events import EventType

logger = logging.getLogger(__name__)

TEMPLATE: Final = Path(__file__).parent / "templates" / "index.html"
STATIC_PREFIX: Final = "/ui/static"
# Shown in the model picker; the server resolves aliases (any other id can be typed in).
MODEL_CHOICES: Final = ("sonnet", "opus", "haiku")


def _providers() -> list[dict[str, Any]]:
    """The integration catalogue, for the connect form; empty if the integrations package cannot load."""
    try:
        from dexa.integrations.catalogue import CATALOGUE
    except Exception:  # the UI must come up even when an optional module is broken
        logger.warning("integration catalogue unavailable; the connect form will ask for a kind", exc_info=True)
        return []
    return [
        {
            "id": p.id,
            "name": p.name,
            "kind": p.kind,
            "auth": p.auth,
            "description": p.description,
            "config_keys": list(p.config_keys),
            "hint": p.connect_hint(),
        }
        for p in CATALOGUE.values()
    ]


def ui_config(*, version: str, local: bool, root: str = "") -> dict[str, Any]:
    """`root`: where the app is mounted ("" for `dexa serve`, "/v1" behind API Gateway's stage); the modules put it
    in front of every root-relative URL they build (static/js/config.js)."""
    return {
        "version": version,
        "base": root,
        "static": root + STATIC_PREFIX,
        "eventTypes": EventType.all(),
        "modes": list(MODES),
        "models": list(MODEL_CHOICES),
        "providers": _providers(),
        "local": local,
    }


def render_shell(config: dict[str, Any], modules: list[str]) -> str:
    """The page, with the config as an inert JSON block (allowed by a script-src 'self' CSP) and module preloads
    so the browser fetches every module in parallel instead of walking the import graph."""
    # "<" escaped so no string in the config can close the script element.
    blob = json.dumps(config, separators=(",", ":")).replace("<", "\\u003c")
    root = html.escape(str(config.get("base") or ""))
    static = root + STATIC_PREFIX
    preload = "\n".join(
        f'  <link rel="modulepreload" href="{static}/{html.escape(m)}">' for m in modules if m.endswith(".js")
    )
    return (
        TEMPLATE.read_text(encoding="utf-8")
        .replace("{{STATIC}}", static)
        .replace("{{ROOT}}", root)
        .replace("{{VERSION}}", html.escape(str(config.get("version", ""))))
        .replace("{{PRELOAD}}", preload)
        .replace("{{CONFIG}}", blob)
    )
