"""Attack #7: a sandbox with network fetches the control plane's page on the host's 127.0.0.1 (the admin key).

The sandbox never shares the host's network namespace. With an egress socket its only way out is the bridge on
127.0.0.1:3128 to that socket; a real listener on the host's loopback must record zero connections.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sandbox_rig import Recorder, fake_proxy, host_listener, make_workspace, needs_bwrap, tree_digest

from dexa.adapters.local_sandbox import LocalSandbox, egress

pytestmark = [pytest.mark.anyio, needs_bwrap]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def admin_port() -> AsyncIterator[Recorder]:
    rec = await host_listener()
    yield rec
    assert rec.server is not None
    rec.server.close()


def _reach_host(port: int) -> str:
    """Every way a command might try the host's loopback: direct, through the proxy variables, raw sockets."""
    return (
        f"curl -s -m 3 --noproxy '*' http://127.0.0.1:{port}/ -D - ; echo direct=$?; "
        f"curl -s -m 3 http://127.0.0.1:{port}/ -D - ; echo via-env=$?; "
        f"curl -s -m 3 http://localhost:{port}/ -D - ; echo localhost=$?; "
        'python3 -c "import socket\n'
        f"for h in ('127.0.0.1', '::1', '0.0.0.0'):\n"
        "    try:\n"
        f"        socket.create_connection((h, {port}), timeout=2); print(h, 'CONNECTED')\n"
        "    except OSError as e:\n"
        "        print(h, 'blocked', type(e).__name__)\"; "
    )


@pytest.mark.parametrize("shared_bridge", [True, False], ids=["session-bridge", "per-command-bridge"])
async def test_sandbox_with_egress_reaches_only_the_proxy_never_the_host_loopback(
    tmp_path: Path, admin_port: Recorder, monkeypatch: pytest.MonkeyPatch, shared_bridge: bool
) -> None:
    if not shared_bridge:
        monkeypatch.setattr(egress, "can_join_netns", lambda: False)  # the non-root path
    elif not egress.can_join_netns():
        pytest.skip("joining the session's network namespace needs root and nsenter")
    root, state, outside = make_workspace(tmp_path)
    outside_before = tree_digest(outside)
    sock = str(tmp_path / "egress.sock")
    proxy = await fake_proxy(sock)
    box = LocalSandbox(str(root), network=True, egress_socket=sock, state_dir=str(state))
    try:
        fetched = await box.exec("curl -s -m 5 http://example.test/path", cwd=str(root), timeout_s=30)
        py = await box.exec(
            "python3 -c \"import urllib.request; print(urllib.request.urlopen('http://example.test/py').read())\"",
            cwd=str(root),
            timeout_s=30,
        )
        attack = await box.exec(_reach_host(admin_port.port), cwd=str(root), timeout_s=30)
    finally:
        await box.close()
        assert proxy.server is not None
        proxy.server.close()
    # Positive control: the proxy is reachable, so the refusals below are the namespace's doing.
    assert fetched.stdout == "hello from the proxy\n", fetched
    assert "hello from the proxy" in py.stdout, py
    assert proxy.request_lines[:2] == ["GET http://example.test/path HTTP/1.1", "GET http://example.test/py HTTP/1.1"]
    assert "SECRET-ADMIN-KEY" not in attack.stdout and "CONNECTED" not in attack.stdout
    assert "direct=7" in attack.stdout and "localhost=7" in attack.stdout  # curl 7: could not connect
    assert admin_port.connections == 0
    assert tree_digest(outside) == outside_before


async def test_without_egress_socket_only_loopback_exists_and_the_host_is_unreachable(
    tmp_path: Path, admin_port: Recorder
) -> None:
    root, state, _ = make_workspace(tmp_path)
    box = LocalSandbox(str(root), network=True, state_dir=str(state))  # network=True alone grants nothing now
    interfaces = await box.exec("tail -n +3 /proc/net/dev | cut -d: -f1", cwd=str(root))
    result = await box.exec(_reach_host(admin_port.port), cwd=str(root))
    await box.close()
    assert interfaces.stdout.split() == ["lo"]
    assert "CONNECTED" not in result.stdout and "SECRET-ADMIN-KEY" not in result.stdout
    assert admin_port.connections == 0
