"""FastAPI's pydantic.v1 checks, without importing pydantic.v1 to make them (~20 ms of a cold API Lambda's first
request).

FastAPI (0.165) refuses pydantic.v1 models: every field it builds for a route (`fastapi.utils.create_model_field`),
and any object its JSON encoder falls through to, is checked against `pydantic.v1.BaseModel`, and the check imports
pydantic.v1 to get that class. Dexa defines no pydantic.v1 model, and nothing can be one unless pydantic.v1 has been
imported (a class must subclass its BaseModel). So while pydantic.v1 is not in sys.modules the answer is "no" without
importing it; once something has imported it, FastAPI's own check runs, unchanged. Installed by dexa.api.app, before
any route is built; a FastAPI without these functions is left alone (its checks then cost what they cost).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import fastapi.encoders
from fastapi._compat import shared

V1: str = "pydantic.v1"


def _unless_unimported(check: Callable[[Any], object]) -> Callable[[Any], bool]:
    def checked(obj: Any) -> bool:
        return V1 in sys.modules and bool(check(obj))

    checked.__wrapped__ = check  # pyright: ignore[reportFunctionMemberAccess]
    return checked


def install() -> None:
    """Idempotent."""
    for module, name in ((shared, "is_pydantic_v1_model_class"), (fastapi.encoders, "is_pydantic_v1_model_instance")):
        check = getattr(module, name, None)
        if callable(check) and not hasattr(check, "__wrapped__"):
            setattr(module, name, _unless_unimported(check))
