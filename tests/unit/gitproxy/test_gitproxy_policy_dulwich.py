"""The force-push check with dulwich on real repositories, and with no git binary on PATH (the API Lambda has none).

Repositories and packs are made with the git CLI, as a workspace makes them; the check itself must not need it.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from dexa.gitproxy.pktline import ZERO_OID, RefUpdate
from dexa.gitproxy.policy import pack_refusals

BRANCH = "refs/heads/dexa/aaaa1111-work"
GIT_ENV = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.com",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.com",
    "GIT_CONFIG_NOSYSTEM": "1",
    "HOME": "/nonexistent",
}


def git(cwd: Path, *args: str, stdin: bytes | None = None) -> bytes:
    env = {**os.environ, **GIT_ENV}
    return subprocess.run(["git", *args], cwd=cwd, env=env, input=stdin, capture_output=True, check=True).stdout


def commit(work: Path, name: str, text: str) -> str:
    (work / name).write_text(text)
    git(work, "add", name)
    git(work, "commit", "-qm", f"{name}: {text.strip()}")
    return git(work, "rev-parse", "HEAD").decode().strip()


def thin_pack(work: Path, new: str, *known: str) -> bytes:
    """What `git push` sends: objects reachable from `new` but not from what upstream has, as a thin pack."""
    revs = "\n".join([new, *(f"^{k}" for k in known)]) + "\n"
    return git(work, "pack-objects", "--stdout", "--revs", "--thin", "-q", stdin=revs.encode())


@pytest.fixture
def repos(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path, str]:
    """A workspace with a pushed branch, and the proxy's mirror of the upstream (which has that branch)."""
    work = tmp_path / "work"
    work.mkdir()
    git(work, "init", "-q", "-b", "main")
    # Big enough that git deltifies the next version against it: the pack is then really thin.
    commit(work, "big.txt", "".join(f"line {i}\n" for i in range(400)))
    pushed = commit(work, "a.txt", "one\n")
    git(work, "branch", "-q", BRANCH.removeprefix("refs/heads/"))
    mirror = tmp_path / "mirror.git"
    git(tmp_path, "clone", "-q", "--bare", str(work), str(mirror))
    return work, mirror, pushed


def no_git(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir(exist_ok=True)
    monkeypatch.setenv("PATH", str(empty))


def test_a_fast_forward_with_a_thin_pack_is_allowed_without_git(
    repos: tuple[Path, Path, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work, mirror, pushed = repos
    (work / "big.txt").write_text("".join(f"line {i}\n" for i in range(400)) + "tail\n")
    git(work, "commit", "-qam", "grow big.txt")
    new = git(work, "rev-parse", "HEAD").decode().strip()
    pack = thin_pack(work, new, pushed)
    no_git(monkeypatch, tmp_path)
    update = RefUpdate(old=pushed, new=new, ref=BRANCH)
    assert pack_refusals(mirror, tmp_path / "scratch", [update], pack, {BRANCH.encode(): pushed.encode()}) == {}
    # The quarantine is gone, and the mirror did not take the pushed objects.
    assert list((tmp_path / "scratch").iterdir()) == []
    assert subprocess.run(["/usr/bin/git", "cat-file", "-e", new], cwd=mirror).returncode != 0


def test_a_rewritten_history_is_refused_as_a_force_push(
    repos: tuple[Path, Path, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work, mirror, pushed = repos
    git(work, "commit", "-q", "--amend", "-m", "rewritten")
    new = git(work, "rev-parse", "HEAD").decode().strip()
    pack = thin_pack(work, new, f"{pushed}~1")
    no_git(monkeypatch, tmp_path)
    refusals = pack_refusals(
        mirror, tmp_path / "s", [RefUpdate(old=pushed, new=new, ref=BRANCH)], pack, {BRANCH.encode(): pushed.encode()}
    )
    assert refusals == {BRANCH: f"non-fast-forward update (force push) of {BRANCH} is not allowed"}


def test_an_old_tip_the_client_names_must_also_be_an_ancestor(
    repos: tuple[Path, Path, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Upstream moved on (someone else's fast-forward); the client claims an old tip that its new commit does
    not descend from: refused even though it was never upstream's current tip."""
    work, mirror, pushed = repos
    base = git(work, "rev-parse", f"{pushed}~1").decode().strip()
    git(work, "checkout", "-q", "-b", "side", base)
    side = commit(work, "side.txt", "side\n")
    pack = thin_pack(work, side, base)
    no_git(monkeypatch, tmp_path)
    update = RefUpdate(old=pushed, new=side, ref=BRANCH)
    refusals = pack_refusals(mirror, tmp_path / "s", [update], pack, {})
    assert "non-fast-forward" in refusals[BRANCH]


def test_unknown_objects_and_a_corrupt_pack_cannot_be_verified(
    repos: tuple[Path, Path, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work, mirror, pushed = repos
    new = commit(work, "b.txt", "two\n")
    pack = thin_pack(work, new, pushed)
    no_git(monkeypatch, tmp_path)
    heads = {BRANCH.encode(): pushed.encode()}
    update = RefUpdate(old=pushed, new=new, ref=BRANCH)
    # The new commit was never sent: nothing to walk.
    missing = pack_refusals(mirror, tmp_path / "s", [update], b"", heads)
    assert missing[BRANCH].startswith(f"cannot verify that {BRANCH} fast-forwards"), missing
    # A damaged pack is refused with the reason, not taken as proof.
    broken = pack[:-30] + bytes(30)
    refusals = pack_refusals(mirror, tmp_path / "s", [update], broken, heads)
    assert refusals[BRANCH].startswith("the pushed packfile could not be read"), refusals
    # A create (old = zeros) of a branch upstream lacks has nothing to rewrite.
    create = RefUpdate(old=ZERO_OID, new=new, ref=BRANCH + "-2")
    assert pack_refusals(mirror, tmp_path / "s", [create], pack, heads) == {}
