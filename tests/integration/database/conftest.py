"""A real PostgreSQL server, started by the tests in a temporary directory (Debian's `postgresql` package).

initdb refuses to run as root, so as root the cluster belongs to the `postgres` user (or `nobody`). The server
listens on 127.0.0.1 only, with password (SCRAM) authentication, so the tests see real connection errors.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from db_kit import PASSWORD, USER, Postgres

from dexa.adapters.sqlite import SqliteStore
from dexa.integrations.vault import FileVault

INITDB_FLAGS = ("--auth=scram-sha-256", "-E", "UTF8", "--no-sync", "--locale=C")


def _bindir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    if found:
        return Path(found[0]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).resolve().parent if initdb else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_user() -> list[str]:
    if os.getuid() != 0:
        return []
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        return ["runuser", "-u", name, "--"]
    pytest.skip("running as root without a postgres or nobody user: initdb refuses root")


def _start(prefix: list[str], bindir: Path, root: Path, data: Path) -> int:
    """Start the server on a free port; a port taken between probe and bind (or a slow start) gets one retry."""
    log = root / "log"
    pg_ctl = [*prefix, str(bindir / "pg_ctl"), "-D", str(data)]
    output = ""
    for _ in range(2):
        port = _free_port()
        options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off"
        started = subprocess.run(
            [*pg_ctl, "-l", str(log), "-o", options, "-w", "-t", "120", "start"],
            capture_output=True,
            text=True,
        )
        if started.returncode == 0:
            return port
        output = started.stdout + started.stderr
        subprocess.run([*pg_ctl, "-m", "immediate", "stop"], capture_output=True)
    tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
    pytest.fail(f"PostgreSQL did not start: {output}\n{tail}")


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    pytest.importorskip("psycopg", reason="the Postgres integration needs psycopg[binary]")
    bindir = _bindir()
    if bindir is None:
        pytest.skip("PostgreSQL server binaries not found (apt-get install postgresql; `make test-deps` does)")
    prefix = _as_user()
    # Not under pytest's basetemp: pytest resets pytest-of-<user> to 0700 whenever any run starts, which would
    # lock the cluster's user out of its own directory mid-session.
    root = Path(tempfile.mkdtemp(prefix="dexa-pg-"))
    if prefix:
        owner = pwd.getpwnam(prefix[2])
        os.chown(root, owner.pw_uid, owner.pw_gid)
    pwfile = root / "pw"
    pwfile.write_text(PASSWORD)
    if prefix:
        os.chown(pwfile, pwd.getpwnam(prefix[2]).pw_uid, -1)
    data = root / "data"
    initdb = subprocess.run(
        [*prefix, str(bindir / "initdb"), "-D", str(data), "-U", USER, f"--pwfile={pwfile}", *INITDB_FLAGS],
        capture_output=True,
        text=True,
    )
    if initdb.returncode != 0:
        shutil.rmtree(root, ignore_errors=True)
        pytest.fail(f"initdb failed: {initdb.stdout}{initdb.stderr}")
    port = _start(prefix, bindir, root, data)
    try:
        yield Postgres(host="127.0.0.1", port=port, database="postgres")
    finally:
        subprocess.run(
            [*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"], capture_output=True
        )
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    db = SqliteStore(tmp_path / "dexa.db")
    yield db
    db.close()


@pytest.fixture
def vault(tmp_path: Path) -> FileVault:
    return FileVault(tmp_path / "vault.bin", Fernet.generate_key())
