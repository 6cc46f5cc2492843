"""Dexa's HTTP API. `create_app` is imported lazily so `dexa.api.schemas` / `dexa.api.ports` stay FastAPI-free."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .app import create_app

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from .app import create_app

        return create_app
    raise AttributeError(f"module 'dexa.api' has no attribute {name!r}")
