"""The vault port behaves alike over the local Fernet file and DynamoDB + KMS envelope encryption (moto); the cloud
one stores no secret in clear and refuses a ciphertext moved to another name."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from cryptography.fernet import Fernet

from dexa.adapters.aws import DynamoStore
from dexa.adapters.aws.dynamo_vault import VAULT_PK, DynamoVault
from dexa.core.errors import ConfigError, StorageError
from dexa.integrations.vault import FileVault, MemoryVault, SecretVault

SECRET = "ghp_very-secret-token-value"


@pytest.fixture
def cloud(aws: None) -> Iterator[tuple[DynamoVault, Any]]:
    ddb = boto3.client("dynamodb", region_name="us-east-1")
    kms = boto3.client("kms", region_name="us-east-1")
    DynamoStore("dexa-vault", client=ddb).create_table()
    key = kms.create_key(Description="dexa data key")["KeyMetadata"]["Arn"]
    yield DynamoVault.from_env({"DEXA_TABLE": "dexa-vault", "DEXA_VAULT_KMS_KEY": key}, ddb=ddb, kms=kms), ddb


@pytest.fixture(params=["memory", "file", "dynamo"])
def vault(request: pytest.FixtureRequest, tmp_path: Path) -> SecretVault:
    if request.param == "memory":
        return MemoryVault()
    if request.param == "file":
        return FileVault(tmp_path / "vault.bin", Fernet.generate_key())
    return request.getfixturevalue("cloud")[0]


def test_every_vault_keeps_replaces_lists_and_forgets_secrets(vault: SecretVault) -> None:
    async def go() -> None:
        assert await vault.get("org/a/github") is None
        await vault.put("org/a/github", SECRET)
        await vault.put("org/a/slack", "xoxb-1")
        await vault.put("org/b/slack", "xoxb-2")
        await vault.put("org/a/slack", "xoxb-1-rotated")
        assert await vault.get("org/a/github") == SECRET
        assert await vault.get("org/a/slack") == "xoxb-1-rotated"
        assert await vault.keys("org/a/") == ["org/a/github", "org/a/slack"]
        await vault.delete("org/a/github")
        await vault.delete("org/a/never-there")
        assert await vault.get("org/a/github") is None
        assert await vault.keys() == ["org/a/slack", "org/b/slack"]

    asyncio.run(go())


def test_the_cloud_vault_stores_only_ciphertext_bound_to_its_name(cloud: tuple[DynamoVault, Any]) -> None:
    vault, ddb = cloud
    asyncio.run(vault.put("org/a/github", SECRET))
    items = ddb.query(
        TableName="dexa-vault",
        KeyConditionExpression="PK = :pk",
        ExpressionAttributeValues={":pk": {"S": VAULT_PK}},
    )["Items"]
    assert len(items) == 1 and SECRET.encode() not in repr(items).encode()
    assert SECRET.encode() not in items[0]["ct"]["B"] and len(items[0]["nonce"]["B"]) == 12
    moved = {**items[0], "SK": {"S": "K#org/b/github"}}  # another org's slot, same ciphertext
    ddb.put_item(TableName="dexa-vault", Item=moved)
    with pytest.raises(StorageError):
        asyncio.run(vault.get("org/b/github"))
    assert asyncio.run(vault.get("org/a/github")) == SECRET


def test_the_cloud_vault_without_its_kms_key_names_the_setting() -> None:
    with pytest.raises(ConfigError, match="DEXA_VAULT_KMS_KEY"):
        DynamoVault.from_env({"DEXA_TABLE": "dexa"}, ddb=object(), kms=object())
