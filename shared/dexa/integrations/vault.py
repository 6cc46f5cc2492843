"""The secret vault: OAuth grants, API keys and connection strings, encrypted at rest.

Locally one Fernet-encrypted file (the whole document is one token, so no key or value appears in clear);
in the cloud the same port is backed by KMS / Secrets Manager.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

from cryptography.fernet import Fernet, InvalidToken

from dexa.core.errors import ConfigError, StorageError

logger = logging.getLogger(__name__)

KEY_ENV = "DEXA_VAULT_KEY"


class SecretVault(Protocol):
    async def get(self, key: str) -> str | None: ...

    async def put(self, key: str, value: str) -> None: ...

    async def delete(self, key: str) -> None: ...

    async def keys(self, prefix: str = "") -> list[str]: ...


class MemoryVault:
    """For tests and ephemeral demos."""

    def __init__(self) -> None:
        self._data: dict[str, str] = {}

    async def get(self, key: str) -> str | None:
        return self._data.get(key)

    async def put(self, key: str, value: str) -> None:
        self._data[key] = value

    async def delete(self, key: str) -> None:
        self._data.pop(key, None)

    async def keys(self, prefix: str = "") -> list[str]:
        return sorted(k for k in self._data if k.startswith(prefix))


def load_or_create_key(home: Path, env: Mapping[str, str] | None = None) -> bytes:
    """The Fernet key: `DEXA_VAULT_KEY`, else `<home>/vault.key` (created 0600 on first use).

    Raises:
        ConfigError: the configured key is not a valid Fernet key.
    """
    env = os.environ if env is None else env
    raw = env.get(KEY_ENV)
    if raw:
        key = raw.encode()
    else:
        path = home / "vault.key"
        if not path.exists():
            home.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(Fernet.generate_key())
        key = path.read_bytes().strip()
    try:
        Fernet(key)
    except ValueError as exc:
        raise ConfigError(f"{KEY_ENV} / vault.key is not a valid Fernet key (32 url-safe base64 bytes)") from exc
    return key


class FileVault:
    def __init__(self, path: str | Path, key: bytes) -> None:
        self.path = Path(path)
        self._fernet = Fernet(key)
        self._lock = asyncio.Lock()

    @staticmethod
    def open(home: Path, env: Mapping[str, str] | None = None) -> FileVault:
        return FileVault(home / "vault.bin", load_or_create_key(home, env))

    def _read(self) -> dict[str, str]:
        if not self.path.exists():
            return {}
        try:
            return json.loads(self._fernet.decrypt(self.path.read_bytes()))
        except InvalidToken as exc:
            raise StorageError(f"{self.path}: cannot decrypt the vault (wrong {KEY_ENV} or vault.key?)") from exc

    def _write(self, data: dict[str, str]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(f".tmp{os.getpid()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(self._fernet.encrypt(json.dumps(data).encode()))
        os.replace(tmp, self.path)

    def _locked_update(self, key: str, value: str | None) -> None:
        # A lock file serialises writers across processes (CLI and server may share a home).
        lock_path = self.path.with_suffix(".lock")
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        with open(lock_path, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            data = self._read()
            if value is None:
                data.pop(key, None)
            else:
                data[key] = value
            self._write(data)

    async def get(self, key: str) -> str | None:
        return self._read().get(key)

    async def put(self, key: str, value: str) -> None:
        async with self._lock:
            self._locked_update(key, value)

    async def delete(self, key: str) -> None:
        async with self._lock:
            self._locked_update(key, None)

    async def keys(self, prefix: str = "") -> list[str]:
        return sorted(k for k in self._read() if k.startswith(prefix))
