"""Fixtures for the permission tests (helpers live in permission_cases.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from permission_cases import Stack, build_stack


@pytest.fixture
def make_stack(tmp_path: Path) -> Callable[..., Stack]:
    def build(**kwargs: Any) -> Stack:
        return build_stack(tmp_path, **kwargs)

    return build
