"""The Lambda Python runtime's own files (/var/runtime): the Runtime Interface Client and the AWS SDK.

On AWS these come with the managed runtime, not with the function: awslambdaric, boto3/botocore (which the Dexa
layer leaves out on purpose). They are copied here from this environment's installed distributions, so the
function's own code still comes only from its asset and layer directories.
"""

from __future__ import annotations

import compileall
import hashlib
import importlib.metadata as md
import shutil
import sys
import tempfile
from pathlib import Path

# The managed runtime's packages and what they need.
RUNTIME_DISTS = (
    "awslambdaric",
    "simplejson",
    "snapshot-restore-py",
    "boto3",
    "botocore",
    "s3transfer",
    "jmespath",
    "python-dateutil",
    "six",
    "urllib3",
)

BOOTSTRAP = '''"""Lambda's python bootstrap: sys.path as the managed runtime sets it, then awslambdaric."""
import os
import sys

_version = "python%d.%d" % sys.version_info[:2]
# On Lambda PYTHONPATH is just /var/runtime; the emulator may put an emulated SDK (the Modal stand-in) before it.
_emulated = [p for p in os.environ.get("PYTHONPATH", "").split(":") if p and p != "/var/runtime"]
sys.path[:] = _emulated + [
    "/var/task",
    "/opt/python/lib/%s/site-packages" % _version,
    "/opt/python",
    "/var/runtime",
] + [p for p in sys.path if p.startswith("/var/lang")]

from awslambdaric.__main__ import main  # noqa: E402

main([sys.argv[0], os.environ["_HANDLER"]])
'''


def build_runtime_dir() -> Path:
    """A cached directory to mount at /var/runtime (keyed by the distribution versions)."""
    dists = [md.distribution(name) for name in RUNTIME_DISTS]
    key = hashlib.sha256(
        ("compiled\n" + BOOTSTRAP + sys.version + "".join(f"{d.metadata['Name']}={d.version}" for d in dists)).encode()
    ).hexdigest()[:12]
    target = Path(tempfile.gettempdir()) / f"dexa-cloud-e2e-runtime-{key}"
    if (target / "bootstrap.py").exists():
        return target
    staging = Path(tempfile.mkdtemp(prefix="dexa-runtime-"))
    for dist in dists:
        for file in dist.files or ():
            source = Path(str(dist.locate_file(file)))
            if not source.is_file() or "__pycache__" in file.parts or file.parts[0].startswith(".."):
                continue
            dest = staging / file
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest)
    (staging / "bootstrap.py").write_text(BOOTSTRAP)
    # The managed runtime ships its packages compiled; mounted read-only, uncompiled ones would be compiled again
    # by every emulated cold start (awslambdaric and simplejson: tens of ms of wall each).
    compileall.compile_dir(staging, quiet=2, workers=0)
    staging.chmod(0o755)
    try:
        staging.rename(target)
    except OSError:  # another worker built it first
        shutil.rmtree(staging, ignore_errors=True)
    return target
