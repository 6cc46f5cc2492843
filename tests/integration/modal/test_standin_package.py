"""The fake `modal` package is a faithful stand-in where Dexa touches it: same names and signatures as modal 1.6.4,
reached by a plain `import modal` when its directory leads PYTHONPATH (as on the emulated Lambdas)."""

from __future__ import annotations

import inspect
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

# What dexa.adapters.modal calls, and the parts of the SDK a workspace restore relies on.
SURFACE = [
    ("Sandbox", "create"),
    ("Sandbox", "from_name"),
    ("Sandbox", "from_id"),
    ("Sandbox", "list"),
    ("Sandbox", "exec"),
    ("Sandbox", "terminate"),
    ("Sandbox", "poll"),
    ("Sandbox", "wait"),
    ("Sandbox", "detach"),
    ("Sandbox", "snapshot_filesystem"),
    ("Sandbox", "reload_volumes"),
    ("Sandbox", "set_tags"),
    ("Sandbox", "get_tags"),
    ("Volume", "from_name"),
    ("Volume", "hydrate"),
    ("App", "lookup"),
    ("Image", "debian_slim"),
]
FILESYSTEM = ["read_bytes", "read_text", "write_bytes", "write_text", "stat", "list_files", "make_directory", "remove"]
ERRORS = [
    "Error",
    "NotFoundError",
    "AlreadyExistsError",
    "AuthError",
    "ClientClosed",
    "SandboxTerminatedError",
    "SandboxFilesystemError",
    "SandboxFilesystemNotFoundError",
    "SandboxFilesystemIsADirectoryError",
    "SandboxFilesystemNotADirectoryError",
    "SandboxFilesystemPermissionError",
]


def _params(fn: Any) -> list[tuple[str, Any]]:
    return [(p.name, p.kind) for p in inspect.signature(fn).parameters.values() if p.name != "self"]


def test_the_fake_has_modals_names_and_signatures(fake_modal: Any) -> None:
    real = pytest.importorskip("modal")
    from modal.sandbox._filesystem import _SandboxFilesystem

    for cls, name in SURFACE:
        fake_fn, real_fn = getattr(getattr(fake_modal, cls), name), getattr(getattr(real, cls), name)
        assert _params(fake_fn) == _params(real_fn), name
        assert hasattr(fake_fn, "aio") == hasattr(real_fn, "aio"), f"{cls}.{name}: `.aio` differs from Modal's"
    from modal.sandbox.sandbox import SandboxFilesystem

    fake_fs = fake_modal._Filesystem
    for name in FILESYSTEM:
        assert _params(getattr(fake_fs, name)) == _params(getattr(_SandboxFilesystem, name)), name
        assert hasattr(getattr(fake_fs, name), "aio") and hasattr(getattr(SandboxFilesystem, name), "aio"), name
    assert _params(fake_modal.Volume.objects.delete) == _params(real.Volume.objects.delete)
    assert hasattr(fake_modal.Volume.objects.delete, "aio") and hasattr(real.Volume.objects.delete, "aio")
    for name in ERRORS:
        fake_cls, real_cls = getattr(fake_modal.exception, name), getattr(real.exception, name)
        real_names = {c.__name__ for c in real_cls.__mro__}
        assert {c.__name__ for c in fake_cls.__mro__} <= real_names, name  # no ancestry Modal lacks
        for ancestor in real_names & set(ERRORS):
            assert issubclass(fake_cls, getattr(fake_modal.exception, ancestor)), (name, ancestor)  # and none missing


def test_import_modal_reaches_the_standin_from_pythonpath(standin: Any, tmp_path: Path) -> None:
    shared = Path(__file__).resolve().parents[3] / "shared"
    code = (
        "import asyncio, modal\n"
        "from dexa.adapters.modal import ModalSandbox\n"
        "assert modal.EMULATION\n"
        "ws = ModalSandbox('ses_pp', app_name='dexa-standin-pythonpath')\n"
        "async def main():\n"
        "    r = await ws.exec('echo hello from $(hostname)', cwd=ws.root)\n"
        "    print(r.stdout.strip())\n"
        "    await ws.terminate()\n"
        "asyncio.run(main())\n"
    )
    env = {**os.environ, **standin.lambda_env({"PYTHONPATH": str(shared)}), "HOME": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "hello from modal"

    no_token = {k: v for k, v in env.items() if not k.startswith("MODAL_TOKEN")}
    out = subprocess.run([sys.executable, "-c", code], env=no_token, capture_output=True, text=True, timeout=120)
    assert out.returncode != 0 and "ConfigError" in out.stderr and "DEXA_MODAL_SECRET_ARN" in out.stderr


def test_a_filesystem_snapshot_starts_a_new_sandbox_with_the_files(
    standin: Any, fake_modal: Any, monkeypatch: Any
) -> None:
    for key, value in standin.lambda_env().items():
        if key != "PYTHONPATH":
            monkeypatch.setenv(key, value)
    m = fake_modal
    app = m.App.lookup("dexa-standin-snapshots", create_if_missing=True)
    first = m.Sandbox.create(app=app, image=m.Image.debian_slim(), workdir="/srv", idle_timeout=60)
    p = first.exec("bash", "-c", "mkdir -p /srv/app && echo layered > /srv/app/f && echo t > /tmp/t")
    assert p.wait() == 0
    image = first.snapshot_filesystem()
    first.terminate()
    second = m.Sandbox.create(app=app, image=image, workdir="/srv")
    try:
        assert second.filesystem.read_text("/srv/app/f") == "layered\n"
        plain = m.Sandbox.create(app=app, image=m.Image.debian_slim())
        with pytest.raises(m.exception.SandboxFilesystemNotFoundError):
            plain.filesystem.read_bytes("/srv/app/f")  # without the snapshot, the container layer starts empty
        plain.terminate()
    finally:
        second.terminate()
