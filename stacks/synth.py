"""Synthesize the app in-process (no cdk CLI, no docker) and return the templates; used by tests and CI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .common import ROOT


def cdk_context() -> dict[str, Any]:
    """The context cdk.json gives the CLI, so in-process synth sees the same feature flags."""
    return json.loads((ROOT / "cdk.json").read_text()).get("context", {})


def synthesize(outdir: str | Path, *, bundle: bool = False) -> dict[str, dict[str, Any]]:
    """{stack name: template}. Without `bundle` the layer is not built (its build needs the package index)."""
    import aws_cdk as cdk

    from .dexa_app import build

    context = cdk_context()
    if not bundle:
        context["aws:cdk:bundling-stacks"] = []
    app = cdk.App(outdir=str(outdir), context=context)
    build(app)
    assembly = app.synth()
    return {stack.stack_name: stack.template for stack in assembly.stacks}


def source_fingerprint() -> str:
    """A hash of everything that shapes the templates, to cache synthesis between test runs."""
    import hashlib

    digest = hashlib.sha256()
    files = [*sorted((ROOT / "stacks").glob("*.py")), ROOT / "cdk.json"]
    files += sorted((ROOT / "shared" / "dexa" / "adapters" / "aws").glob("[as]*.py"))
    for path in files:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]
