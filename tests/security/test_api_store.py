"""The database file was world-readable, and one held SQLite lock stalled every org for 30 s."""

from __future__ import annotations

import sqlite3
import stat
import threading
import time
from pathlib import Path

import pytest
from api_rig import Rig, make_rig

from dexa.adapters.sqlite.store import WRITE_DEADLINE_S
from dexa.auth.bootstrap import token_path

STALLED_S = WRITE_DEADLINE_S / 3


@pytest.fixture
def rig(tmp_path: Path) -> Rig:
    return make_rig(tmp_path)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_database_its_wal_and_the_token_are_private_to_the_server_user(rig: Rig) -> None:
    with rig.client() as c:
        assert c.post("/sessions", json={}, headers=rig.h("b_admin")).status_code == 201
    db = rig.runtime.settings.db_path
    for path in (db, Path(f"{db}-wal"), Path(f"{db}-shm"), token_path(rig.runtime.settings.home)):
        assert path.exists(), path
        assert _mode(path) == 0o600, (path, oct(_mode(path)))


def test_an_existing_world_readable_database_is_tightened_on_open(tmp_path: Path) -> None:
    from dexa.adapters.sqlite import SqliteStore

    db = tmp_path / "old.db"
    sqlite3.connect(db).close()
    db.chmod(0o644)
    SqliteStore(db).close()
    assert _mode(db) == 0o600


def test_a_held_write_lock_does_not_stall_another_orgs_requests(rig: Rig) -> None:
    with rig.client() as c:
        assert c.post("/sessions", json={}, headers=rig.h("a_admin")).status_code == 201
        hog = sqlite3.connect(rig.runtime.settings.db_path, isolation_level=None)
        hog.execute("BEGIN IMMEDIATE")  # another process (say, a stuck `dexa run`) holds the write lock
        pending: list[int] = []
        # Org a's write now waits for the lock; it must wait without freezing the server for everyone else.
        writer = threading.Thread(
            target=lambda: pending.append(c.post("/sessions", json={}, headers=rig.h("a_admin")).status_code)
        )
        try:
            writer.start()
            time.sleep(0.3)
            t0 = time.monotonic()
            r = c.get("/sessions", headers=rig.h("b_member"))
            listed = time.monotonic() - t0
            # Stalled, these would wait as long as the writer does (up to WRITE_DEADLINE_S); the bound only has
            # to tell that from slow, and a loaded 2-core machine took 1.7 s for two small requests (1.0 s before).
            assert r.status_code == 200 and listed < STALLED_S, listed
            t0 = time.monotonic()
            assert c.get("/health").status_code == 200
            assert c.get("/me", headers=rig.h("a_member")).status_code == 200
            assert time.monotonic() - t0 < STALLED_S
            assert not pending  # still waiting for the lock
        finally:
            hog.execute("ROLLBACK")
            hog.close()
            writer.join(10)
        assert pending == [201]
        # The write that had to wait goes through once the lock is released.
        assert c.post("/sessions", json={}, headers=rig.h("b_admin")).status_code == 201
