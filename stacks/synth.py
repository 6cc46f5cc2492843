"""Synthesize the app in-process (no cdk CLI, no docker): templates for tests, a cloud assembly for the harness.

    python -m stacks.synth --out DIR [--context dexa:lambdaArch=x86_64 --context dexa:lambdaPython=3.11]

writes DIR as `cdk synth` would (templates, manifest, asset.<hash>/ directories with the layer built and
bundled) plus DIR/dexa-assembly.json, which names each stack's template and each function's handler, runtime,
environment and code/layer directories. The layer is cached by its asset hash (stacks/layer.py), so a second
synth of an unchanged tree only copies it.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .common import ROOT
from .layer import LayerError

ASSEMBLY_SUMMARY = "dexa-assembly.json"
# What the cdk CLI adds to the context, so an in-process synth writes what `cdk synth` would.
CLI_CONTEXT = {"aws:cdk:enable-asset-metadata": True, "aws:cdk:enable-path-metadata": True}


def cdk_context() -> dict[str, Any]:
    """The context cdk.json gives the CLI, so in-process synth sees the same feature flags."""
    return json.loads((ROOT / "cdk.json").read_text()).get("context", {})


def _app(outdir: str | Path, context: Mapping[str, Any], *, bundle: bool) -> Any:
    import aws_cdk as cdk

    from .dexa_app import build

    merged = {**cdk_context(), **context}
    if not bundle:
        merged["aws:cdk:bundling-stacks"] = []
    app = cdk.App(outdir=str(outdir), context=merged)
    build(app)
    return app.synth()


def synthesize(
    outdir: str | Path, *, bundle: bool = False, context: Mapping[str, Any] | None = None
) -> dict[str, dict[str, Any]]:
    """{stack name: template}. Without `bundle` the layer is not built (its build needs the package index)."""
    assembly = _app(outdir, context or {}, bundle=bundle)
    return {stack.stack_name: stack.template for stack in assembly.stacks}


def synth_assembly(outdir: str | Path, *, context: Mapping[str, Any] | None = None, bundle: bool = True) -> Path:
    """A full cloud assembly in `outdir` (the layer bundled) and its summary file; returns the summary's path."""
    out = Path(outdir).resolve()
    assembly = _app(out, {**CLI_CONTEXT, **(context or {})}, bundle=bundle)
    stacks = [
        {
            "name": stack.stack_name,
            "template": str(out / stack.template_file),
            "depends_on": [dep.id for dep in stack.dependencies if not dep.id.endswith(".assets")],
            "functions": _functions(stack.template, out),
        }
        for stack in assembly.stacks
    ]
    summary = out / ASSEMBLY_SUMMARY
    summary.write_text(json.dumps({"assembly": str(out), "stacks": stacks}, indent=2) + "\n")
    return summary


def _functions(template: dict[str, Any], out: Path) -> dict[str, dict[str, Any]]:
    """Each Lambda function's handler, runtime, environment (unresolved) and code/layer asset directories."""
    resources = template.get("Resources", {})

    def asset_dir(logical_id: str) -> str | None:
        path = resources[logical_id].get("Metadata", {}).get("aws:asset:path")
        return str(out / path) if path else None

    found: dict[str, dict[str, Any]] = {}
    for logical_id, resource in resources.items():
        if resource["Type"] != "AWS::Lambda::Function":
            continue
        props = resource["Properties"]
        layers = [ref["Ref"] for ref in props.get("Layers", []) if isinstance(ref, dict) and "Ref" in ref]
        found[logical_id] = {
            "handler": props.get("Handler"),
            "runtime": props.get("Runtime"),
            "architectures": props.get("Architectures", ["x86_64"]),
            "timeout": props.get("Timeout", 3),
            "memory": props.get("MemorySize", 128),
            "environment": props.get("Environment", {}).get("Variables", {}),
            "code": asset_dir(logical_id),
            "layers": [asset_dir(layer) for layer in layers],
        }
    return found


def source_fingerprint() -> str:
    """A hash of everything that shapes the templates, to cache synthesis between test runs.

    The layer's asset hash (over shared/dexa) is left out on purpose: only its S3 key would differ, and no cached
    assertion reads it; tests/cdk/test_layer.py synthesizes for itself.
    """
    import hashlib

    digest = hashlib.sha256()
    files = [*sorted((ROOT / "stacks").glob("*.py")), ROOT / "cdk.json"]
    files += sorted((ROOT / "shared" / "dexa" / "adapters" / "aws").glob("[as]*.py"))
    for path in files:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _context_pair(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"--context takes KEY=VALUE, got {text!r}")
    return key, value


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stacks.synth", description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--out", required=True, type=Path, help="cloud assembly directory to write")
    parser.add_argument("--context", "-c", action="append", type=_context_pair, default=[], metavar="KEY=VALUE")
    parser.add_argument("--no-bundle", action="store_true", help="skip building the layer (templates only)")
    args = parser.parse_args(argv)
    started = time.monotonic()
    try:
        summary = synth_assembly(args.out, context=dict(args.context), bundle=not args.no_bundle)
    except LayerError as exc:
        print(f"python -m stacks.synth: {exc}", file=sys.stderr)
        return 2
    print(f"synthesized {summary.parent} in {time.monotonic() - started:.1f} s", file=sys.stderr)
    print(summary)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
