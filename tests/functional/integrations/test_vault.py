"""The encrypted file vault: ciphertext only on disk, a wrong key fails loudly, the key file is private."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from dexa.core.errors import ConfigError, StorageError
from dexa.integrations.vault import FileVault, load_or_create_key

pytestmark = pytest.mark.anyio
SECRET = "sk-live-hubspot-7f3c9d2e8a1b"


async def test_the_vault_file_holds_ciphertext_only(tmp_path: Path) -> None:
    vault = FileVault.open(tmp_path, env={})
    await vault.put("integration/org/int_1/api_key", SECRET)
    await vault.put("oauth/org/int_2", '{"refresh_token": "rt_abcdef123456"}')
    raw = (tmp_path / "vault.bin").read_bytes()
    for needle in (SECRET, "rt_abcdef123456", "int_1", "api_key", "oauth/org"):
        assert needle.encode() not in raw
    assert await FileVault.open(tmp_path, env={}).get("integration/org/int_1/api_key") == SECRET
    assert stat.S_IMODE(os.stat(tmp_path / "vault.key").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(tmp_path / "vault.bin").st_mode) == 0o600


async def test_delete_and_prefix_listing(tmp_path: Path) -> None:
    vault = FileVault(tmp_path / "v.bin", Fernet.generate_key())
    await vault.put("a/1", "x")
    await vault.put("a/2", "y")
    await vault.put("b/1", "z")
    await vault.delete("a/1")
    assert await vault.keys("a/") == ["a/2"] and await vault.get("a/1") is None


async def test_a_wrong_key_is_a_clear_storage_error(tmp_path: Path) -> None:
    await FileVault(tmp_path / "v.bin", Fernet.generate_key()).put("k", "v")
    with pytest.raises(StorageError, match="cannot decrypt"):
        await FileVault(tmp_path / "v.bin", Fernet.generate_key()).get("k")


def test_the_key_can_come_from_the_environment_and_must_be_valid(tmp_path: Path) -> None:
    key = Fernet.generate_key()
    assert load_or_create_key(tmp_path, {"DEXA_VAULT_KEY": key.decode()}) == key
    assert not (tmp_path / "vault.key").exists()
    with pytest.raises(ConfigError, match="DEXA_VAULT_KEY"):
        load_or_create_key(tmp_path, {"DEXA_VAULT_KEY": "not-a-key"})
