"""Attack: read, list, search or index files outside a session's workspace through the rich-client file routes.

A member of org b plants symlinks in its own workspace (to org a's repository, to the host owner's secret, to /etc,
to the directory above) and names paths with `..` and absolute paths. On the real `dexa serve` app (bubblewrap
workspaces, SafeFS), every attempt is refused as outside_workspace or simply finds nothing, no byte of org a's or the
host's files comes back, another org's session is 404 for every route and for the terminal, and nothing outside the
workspace changes.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from api_rig import Rig, make_rig, tree_digest
from starlette.websockets import WebSocketDisconnect

SECRETS = ("org a data", "org a confidential", "s3cr3t-host-file", "root:x:0:0")


@pytest.fixture
def rig(tmp_path: Path) -> Rig:
    return make_rig(tmp_path)


def _plant(rig: Rig) -> Path:
    ws_b = rig.org_ws("b")
    ws_b.mkdir(parents=True, exist_ok=True)
    (ws_b / "own.txt").write_text("org b's own file\n")
    (ws_b / "into-a").symlink_to(rig.org_ws("a") / "repo")
    (ws_b / "secret").symlink_to(rig.user_home / "secret.txt")
    (ws_b / "etc").symlink_to("/etc")
    (ws_b / "up").symlink_to("..")
    (ws_b / "inner").symlink_to("own.txt")  # a link that stays inside is followed, as the file tools follow it
    return ws_b


def _leaks(text: str) -> list[str]:
    return [s for s in SECRETS if s in text]


def test_paths_and_links_out_of_the_workspace_are_refused_by_every_file_route(rig: Rig) -> None:
    _plant(rig)
    before = tree_digest(rig.org_ws("a"), rig.user_home, rig.serve_dir)
    h = rig.h("b_member")
    a_file = str(rig.org_ws("a") / "repo" / "data.txt")
    with rig.client() as c:
        sid = c.post("/sessions", json={"title": "b"}, headers=h).json()["id"]
        base = f"/sessions/{sid}/files"
        assert c.get(f"{base}/content", params={"path": "inner"}, headers=h).json()["content"] == "org b's own file\n"
        hostile_reads = ["../org_a/repo/data.txt", a_file, "/etc/passwd", "into-a/data.txt", "secret", "etc/passwd"]
        hostile_reads += ["up/org_a/repo/data.txt", "own.txt/../../org_a/repo/data.txt", "./../../.."]
        for path in hostile_reads:
            r = c.get(f"{base}/content", params={"path": path}, headers=h)
            assert r.status_code == 403 and r.json()["code"] == "outside_workspace", (path, r.text)
            assert not _leaks(r.text)
        for path in ("..", "into-a", "etc", "up", "/", str(rig.user_home)):
            r = c.get(base, params={"path": path}, headers=h)
            assert r.status_code == 403 and r.json()["code"] == "outside_workspace", (path, r.text)
        listing = c.get(base, headers=h).json()["data"]
        kinds = {e["name"]: e["type"] for e in listing}
        assert kinds["into-a"] == kinds["secret"] == kinds["etc"] == kinds["up"] == "symlink"  # shown, never entered
        for path in ("into-a", "etc", "up", "../org_a"):
            for route, params in (("search", {"pattern": "."}), ("symbols", {"query": ""})):
                r = c.get(f"{base}/{route}", params={**params, "path": path}, headers=h)
                assert r.status_code == 403 and r.json()["code"] == "outside_workspace", (route, path, r.text)
        for pattern in ("org a", "s3cr3t", "root:x"):
            found = c.get(f"{base}/search", params={"pattern": pattern}, headers=h)
            assert found.status_code == 200 and found.json()["count"] == 0, found.text  # rg follows no link
        symbols = c.get(f"{base}/symbols", params={"engine": "regex"}, headers=h)
        assert symbols.status_code == 200 and not _leaks(symbols.text)
    assert tree_digest(rig.org_ws("a"), rig.user_home, rig.serve_dir) == before


def test_another_orgs_session_is_404_for_files_shares_mcp_and_the_terminal(rig: Rig) -> None:
    with rig.client() as c:
        sid = c.post("/sessions", json={"cwd": "repo", "title": "a"}, headers=rig.h("a_member")).json()["id"]
        h = rig.h("b_admin")
        for method, path, params in (
            ("GET", f"/sessions/{sid}/files", {}),
            ("GET", f"/sessions/{sid}/files/content", {"path": "data.txt"}),
            ("GET", f"/sessions/{sid}/files/search", {"pattern": "org"}),
            ("GET", f"/sessions/{sid}/files/symbols", {}),
            ("GET", f"/sessions/{sid}/shares", {}),
            ("POST", f"/sessions/{sid}/shares", {}),
            ("POST", f"/sessions/{sid}/terminal/tickets", {}),
            ("GET", f"/sessions/{sid}/skills", {}),
        ):
            r = c.request(method, path, params=params, json={} if method == "POST" else None, headers=h)
            assert r.status_code == 404, (path, r.text)
            assert not _leaks(r.text)
        with c.websocket_connect(f"/sessions/{sid}/terminal", headers=h) as ws:
            with pytest.raises(WebSocketDisconnect) as closed:
                ws.receive_json()
            assert closed.value.code == 4404
        ticket = c.post(f"/sessions/{sid}/terminal/tickets", headers=rig.h("a_member")).json()["ticket"]
        own = c.post("/sessions", json={"title": "b"}, headers=h).json()["id"]
        with c.websocket_connect(f"/sessions/{own}/terminal?ticket={ticket}") as ws:  # a's ticket, b's session
            with pytest.raises(WebSocketDisconnect) as refused:
                ws.receive_json()
            assert refused.value.code == 4401
