"""Every escape attempt must fail: files outside the workspace, symlinks, /proc, network, host secrets.

Each refusal is paired with a positive control where it matters, so a test cannot pass by accident
(e.g. the network test also shows the same probe succeeds when the sandbox is given a network).
"""

# ruff: noqa: ASYNC240 - the tests inspect the host filesystem directly, synchronously, on purpose

from __future__ import annotations

import os
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from dexa.adapters.local_sandbox import LocalSandbox
from dexa.core.errors import SandboxError
from dexa.core.tools import SessionState, ToolContext
from dexa.tools.files import Edit, Read, Write

pytestmark = pytest.mark.anyio

SECRET = "sk-test-secret"


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A host file next to (not inside) the workspace."""
    path = tmp_path / "secret.txt"
    path.write_text("TOP SECRET\n")
    return path


@pytest.fixture
async def secret_env_sandbox(
    root: Path, state_dir: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[LocalSandbox]:
    monkeypatch.setenv("ANTHROPIC_API_KEY", SECRET)
    box = LocalSandbox(str(root), state_dir=state_dir)
    yield box
    await box.close()


async def test_bash_cannot_read_host_files_outside_the_workspace(
    sandbox: LocalSandbox, root: Path, outside: Path
) -> None:
    result = await sandbox.exec(f"cat {outside}; cat ../secret.txt; cat /etc/shadow; ls /root", cwd=str(root))
    assert "TOP SECRET" not in result.stdout
    assert "/etc/shadow: No such file" in result.stderr and "/root" in result.stderr


async def test_bash_writes_outside_the_workspace_never_reach_the_host(
    sandbox: LocalSandbox, root: Path, tmp_path: Path
) -> None:
    result = await sandbox.exec(
        "echo x > ../escaped.txt; echo x > /etc/evil; touch /usr/evil; echo x >> /etc/passwd; echo done",
        cwd=str(root),
    )
    assert result.stdout == "done\n"
    assert "Read-only file system" in result.stderr
    assert not (tmp_path / "escaped.txt").exists()
    assert not Path("/etc/evil").exists() and not Path("/usr/evil").exists()
    assert "x\n" not in Path("/etc/passwd").read_text()[-3:]


async def test_bash_symlink_to_outside_does_not_escape(sandbox: LocalSandbox, root: Path, outside: Path) -> None:
    (root / "link").symlink_to(outside)
    (root / "dirlink").symlink_to(outside.parent)
    result = await sandbox.exec("cat link; cat dirlink/secret.txt; echo y > link", cwd=str(root))
    assert "TOP SECRET" not in result.stdout
    assert outside.read_text() == "TOP SECRET\n"


async def test_bash_cannot_see_host_secrets_in_env_or_proc(secret_env_sandbox: LocalSandbox, root: Path) -> None:
    assert os.environ["ANTHROPIC_API_KEY"] == SECRET  # the host really has it
    result = await secret_env_sandbox.exec(
        "env; cat /proc/1/environ; cat /proc/self/environ; for f in /proc/[0-9]*/environ; do cat $f; done; "
        "cat /proc/1/cmdline",
        cwd=str(root),
    )
    everything = result.stdout + result.stderr
    assert SECRET not in everything and "ANTHROPIC" not in everything


async def test_bash_sees_only_its_own_pid_namespace(sandbox: LocalSandbox, root: Path) -> None:
    result = await sandbox.exec("ls /proc | grep -c '^[0-9]'", cwd=str(root))
    assert int(result.stdout.strip()) < 10  # the host has hundreds


@pytest.fixture
def host_listener() -> Iterator[int]:
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
                conn.sendall(b"hello from host\n")
                conn.close()
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join(timeout=2)
    server.close()


def _probe(port: int, *, external: bool = True) -> str:
    targets = "(('1.1.1.1', 53), ('127.0.0.1', %d))" if external else "(('127.0.0.1', %d),)"
    script = (
        "python3 - <<'EOF'\n"
        "import socket\n"
        f"for host, port in {targets}:\n"
        "    try:\n"
        "        s = socket.create_connection((host, port), timeout=2)\n"
        "        print(host, 'CONNECTED', s.recv(100))\n"
        "    except OSError as exc:\n"
        "        print(host, 'blocked', type(exc).__name__)\n"
        "EOF\n"
    ) % port
    if external:
        script += "curl -sS -m 2 https://pypi.org >/dev/null && echo CURL-OK || echo curl-blocked"
    return script


async def test_no_outbound_network_by_default(sandbox: LocalSandbox, root: Path, host_listener: int) -> None:
    result = await sandbox.exec(_probe(host_listener), cwd=str(root), timeout_s=30)
    assert "CONNECTED" not in result.stdout and "CURL-OK" not in result.stdout
    assert "1.1.1.1 blocked" in result.stdout and "127.0.0.1 blocked" in result.stdout
    assert "curl-blocked" in result.stdout


async def test_network_true_without_an_egress_socket_still_has_no_network(
    root: Path, state_dir: str, host_listener: int
) -> None:
    # network=True used to share the host's network, where 127.0.0.1 is the control plane (attack #7). The
    # way out is now the egress proxy only (tests/security/test_sandbox_network.py has the positive control).
    box = LocalSandbox(str(root), network=True, state_dir=state_dir)
    result = await box.exec(_probe(host_listener, external=False), cwd=str(root), timeout_s=30)
    assert "127.0.0.1 blocked" in result.stdout and "CONNECTED" not in result.stdout
    await box.close()


async def test_file_operations_refuse_paths_outside_the_workspace(
    sandbox: LocalSandbox, root: Path, outside: Path
) -> None:
    for path in ("/etc/passwd", "/root/.bashrc", str(outside), f"{root}/../secret.txt", "relative.txt"):
        with pytest.raises(SandboxError):
            await sandbox.read_bytes(path)
        with pytest.raises(SandboxError):
            await sandbox.write_bytes(path, b"pwned")
    with pytest.raises(SandboxError):
        await sandbox.walk("/etc")
    with pytest.raises(SandboxError):
        await sandbox.remove(str(root))
    assert outside.read_text() == "TOP SECRET\n"


async def test_file_operations_refuse_symlink_escapes(sandbox: LocalSandbox, root: Path, outside: Path) -> None:
    (root / "link").symlink_to(outside)
    (root / "dirlink").symlink_to(outside.parent)
    (root / "dangling").symlink_to(outside.parent / "new-file.txt")
    for path in (root / "link", root / "dirlink" / "secret.txt", root / "dangling", root / "dirlink" / "made.txt"):
        with pytest.raises(SandboxError, match="through a symlink"):
            await sandbox.write_bytes(str(path), b"pwned")
    with pytest.raises(SandboxError):
        await sandbox.read_bytes(str(root / "link"))
    assert outside.read_text() == "TOP SECRET\n"
    assert not (outside.parent / "new-file.txt").exists() and not (outside.parent / "made.txt").exists()
    assert str(root / "link") not in await sandbox.walk(str(root))


async def test_file_tools_report_escapes_as_errors(
    sandbox: LocalSandbox, root: Path, outside: Path, tmp_path: Path
) -> None:
    (root / "link").symlink_to(outside)

    async def emit(kind: str, data: object) -> None:
        return None

    ctx = ToolContext(
        session_id="s",
        org_id="o",
        tool_use_id="t",
        workspace=sandbox,
        state=SessionState(cwd=str(root)),
        emit=emit,
        kv=None,  # type: ignore[arg-type]
    )
    read = await Read().run({"file_path": str(root / "link")}, ctx)
    write = await Write().run({"file_path": "/etc/cron.d/evil", "content": "x"}, ctx)
    edit = await Edit().run({"file_path": str(outside), "old_string": "TOP", "new_string": "NOT"}, ctx)
    for out in (read, write, edit):
        assert out.is_error and "outside the workspace" in out.content
    assert outside.read_text() == "TOP SECRET\n"
