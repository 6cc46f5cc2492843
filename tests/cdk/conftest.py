"""The synthesized CDK app, shared by the assertions in this folder (synthesized once per source change)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # `stacks` is a top-level package of the repo, as app.py sees it


@pytest.fixture(scope="session")
def templates(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """{stack name: template}; cached in .pytest_cache by a hash of the stack and ASL sources."""
    from stacks.synth import source_fingerprint, synthesize

    key = f"dexa/cdk-templates/{source_fingerprint()}"
    cache = getattr(request.config, "cache", None)  # absent under -p no:cacheprovider
    cached = cache.get(key, None) if cache is not None else None
    if cached is None:
        cached = synthesize(tmp_path_factory.mktemp("cdk.out"))
        if cache is not None:
            cache.set(key, cached)
    return cached


@pytest.fixture(scope="session")
def template(templates: dict[str, Any]) -> Any:
    from aws_cdk.assertions import Template

    def get(stack: str) -> Template:
        return Template.from_json(templates[stack])

    return get
