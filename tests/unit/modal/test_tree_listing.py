"""The remote tree listing (the script ModalSandbox runs in the sandbox) filtered by the control plane keeps exactly
what a host checkpoint keeps: same files, same stats, same symlink skips, same .gitignore semantics."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from dexa.adapters.modal.tree import TREE
from dexa.checkpoints.ignore import IgnoreRules
from dexa.checkpoints.remote import filter_listing
from dexa.checkpoints.snapshot import scan_tree


def _tree(tmp: Path) -> Path:
    root = tmp / "ws"
    files = {
        ".gitignore": "build/\n*.log\n!keep.log\n",
        "a.py": "a",
        "keep.log": "k",
        "drop.log": "d",
        "build/out.bin": "o",
        "src/.gitignore": "gen/\n",
        "src/gen/x.py": "x",
        "src/lib/y.py": "y",
        "docs/.gitignore": "*\n!.gitignore\n",
        "docs/z.md": "z",
        ".git/HEAD": "ref",
        ".dexa/jobs/j/meta.json": "{}",
    }
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    os.symlink("a.py", root / "link.py")
    os.symlink("/etc", root / "src" / "etc-link")
    return root


def test_the_listing_filtered_here_matches_a_host_scan(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    out = subprocess.run(
        [sys.executable, "-c", TREE, "list", str(root), "1000", str(root / ".dexa")],
        capture_output=True,
        text=True,
        check=True,
    )
    listing = json.loads(out.stdout)
    remote_stats, remote_links = filter_listing(listing, IgnoreRules())
    host_stats, host_links = scan_tree(str(root), IgnoreRules())
    host_stats = {k: v for k, v in host_stats.items() if not k.startswith(".dexa/")}  # the control dir is pruned
    assert remote_stats == host_stats
    assert sorted(s.path for s in remote_links) == sorted(s.path for s in host_links) == ["link.py", "src/etc-link"]
    assert sorted(remote_stats) == [
        ".gitignore",
        "a.py",
        "docs/.gitignore",
        "keep.log",
        "src/.gitignore",
        "src/lib/y.py",
    ]


def test_the_listing_stops_at_its_cap_and_says_so(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    out = subprocess.run([sys.executable, "-c", TREE, "list", str(root), "3"], capture_output=True, text=True)
    listing = json.loads(out.stdout)
    assert listing["truncated"] and len(listing["files"]) + len(listing["links"]) <= 3
