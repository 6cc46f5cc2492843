"""The cloud assembly the harness deploys: `python -m stacks.synth` for this machine's Lambda target, cached.

Synthesis runs as a child process (the harness imports nothing from dexa, and the CDK app does). The result is
cached by a hash of every file that shapes it, so an unchanged tree deploys without re-synthesizing; any change
under shared/dexa, stacks, functions or the lock gives a new assembly.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from .lambda_emulator import HOST_ARCH
from .provision import ACCOUNT, REGION

ROOT = Path(__file__).resolve().parents[2]
INPUTS = ("stacks", "functions", "shared/dexa", "layers", "app.py", "cdk.json", "pyproject.toml", "uv.lock")
# Mail on (SES in moto): the sender the harness verifies as an SES identity.
MAIL_FROM = "dexa@e2e.example"
INBOUND_MAIL_DOMAIN = "in.e2e.example"
# True push for event streams on: the Lambda Web Adapter layer the event-stream function runs under. AWS publishes it
# in its own account; here the harness publishes the stand-in (web_adapter/) under the same name, as version 1 of the
# emulated account, before deploying.
WEB_ADAPTER_LAYER = "LambdaAdapterLayerX86" if HOST_ARCH == "x86_64" else "LambdaAdapterLayerArm64"
WEB_ADAPTER_LAYER_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:layer:{WEB_ADAPTER_LAYER}:1"
CONTEXT = {
    "dexa:lambdaArch": HOST_ARCH,
    "dexa:lambdaPython": f"{sys.version_info.major}.{sys.version_info.minor}",
    "dexa:mailFrom": MAIL_FROM,
    # Inbound mail on: SES receipt rules for this domain store each message and hand it to the webhooks function.
    "dexa:inboundMailDomain": INBOUND_MAIL_DOMAIN,
    "dexa:webAdapterLayerArn": WEB_ADAPTER_LAYER_ARN,
}


def fingerprint(root: Path = ROOT) -> str:
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "--", *INPUTS],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    digest = hashlib.sha256(repr(sorted(CONTEXT.items())).encode())
    for rel in sorted(listed):
        path = root / rel
        if path.is_file():
            digest.update(rel.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def synthesize(root: Path = ROOT, *, log: Path | None = None) -> Path:
    """The cdk.out directory for the tree at `root` (synthesized unless cached)."""
    target = Path(tempfile.gettempdir()) / f"dexa-cloud-e2e-cdk-{fingerprint(root)}"
    if (target / "manifest.json").exists():
        return target
    staging = Path(tempfile.mkdtemp(prefix="dexa-cloud-e2e-synth-"))
    argv = [sys.executable, "-m", "stacks.synth", "--out", str(staging)]
    for key, value in CONTEXT.items():
        argv += ["--context", f"{key}={value}"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    result = subprocess.run(argv, cwd=root, env=env, capture_output=True, text=True)
    if log is not None:
        log.write_text(result.stdout + result.stderr)
    if result.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        raise RuntimeError(f"stacks.synth failed ({result.returncode}):\n{result.stderr[-4000:]}")
    try:
        staging.rename(target)
    except OSError:  # a concurrent run produced the same assembly
        shutil.rmtree(staging, ignore_errors=True)
    return target
