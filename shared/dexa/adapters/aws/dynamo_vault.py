"""The secret vault (dexa.integrations.vault.SecretVault) in the DynamoDB table, envelope-encrypted with KMS.

Each secret gets its own data key from KMS GenerateDataKey (AES-256) and is sealed with AES-GCM; only the
KMS-encrypted data key, the nonce and the ciphertext are stored. The secret's name is bound twice: as the KMS
encryption context (so CloudTrail shows which secret a Decrypt was for, and a data key cannot be replayed for another
name) and as the AES-GCM associated data (so a ciphertext copied to another name fails to open).

    PK "VAULT"   SK "K#{name}"   dk (B: encrypted data key), nonce (B), ct (B), kms_key (S), updated_at (N)
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from typing import Any

import anyio.to_thread
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from dexa.core.errors import ConfigError, StorageError

from . import schema
from ._ddb import Table, error_code, n, s

VAULT_PK = "VAULT"
ENV_VAULT_KEY_ID = "DEXA_VAULT_KMS_KEY"
_CONTEXT = "dexa:vault"


def _sk(name: str) -> str:
    return f"K#{name}"


class DynamoVault:
    def __init__(self, table: str, key_id: str, *, ddb: Any = None, kms: Any = None, region: str | None = None) -> None:
        if not table or not key_id:
            raise ConfigError(f"the cloud vault needs {schema.ENV_TABLE} and {ENV_VAULT_KEY_ID} (a KMS key id or ARN)")
        if ddb is None or kms is None:
            from .clients import aws_client

            ddb = ddb or aws_client("dynamodb", region=region)
            kms = kms or aws_client("kms", region=region)
        self._table, self._kms, self.key_id = Table(ddb, table), kms, key_id

    @classmethod
    def from_env(cls, env: Mapping[str, str], *, ddb: Any = None, kms: Any = None) -> DynamoVault:
        region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
        return cls(env.get(schema.ENV_TABLE, ""), env.get(ENV_VAULT_KEY_ID, ""), ddb=ddb, kms=kms, region=region)

    def _kms_call(self, op: str, **kwargs: Any) -> dict[str, Any]:
        try:
            return getattr(self._kms, op)(**kwargs)
        except Exception as exc:
            raise StorageError(f"KMS {op} for the vault failed: {error_code(exc) or type(exc).__name__}") from exc

    def _seal(self, name: str, value: str) -> dict[str, Any]:
        data_key = self._kms_call(
            "generate_data_key", KeyId=self.key_id, KeySpec="AES_256", EncryptionContext={_CONTEXT: name}
        )
        nonce = os.urandom(12)
        sealed = AESGCM(data_key["Plaintext"]).encrypt(nonce, value.encode(), name.encode())
        return {
            schema.PK: s(VAULT_PK),
            schema.SK: s(_sk(name)),
            "dk": {"B": data_key["CiphertextBlob"]},
            "nonce": {"B": nonce},
            "ct": {"B": sealed},
            "kms_key": s(str(data_key.get("KeyId") or self.key_id)),
            "updated_at": n(time.time()),
        }

    def _open(self, name: str, item: Mapping[str, Any]) -> str:
        plain = self._kms_call("decrypt", CiphertextBlob=item["dk"]["B"], EncryptionContext={_CONTEXT: name})
        try:
            return AESGCM(plain["Plaintext"]).decrypt(item["nonce"]["B"], item["ct"]["B"], name.encode()).decode()
        except InvalidTag as exc:
            raise StorageError(f"vault entry {name!r} does not open (tampered, or stored under another name)") from exc

    async def get(self, key: str) -> str | None:
        def run() -> str | None:
            item = self._table.get(VAULT_PK, _sk(key))
            return None if item is None else self._open(key, item)

        return await anyio.to_thread.run_sync(run)

    async def put(self, key: str, value: str) -> None:
        def run() -> None:
            self._table.call("put_item", TableName=self._table.name, Item=self._seal(key, value))

        await anyio.to_thread.run_sync(run)

    async def delete(self, key: str) -> None:
        def run() -> None:
            self._table.call(
                "delete_item", TableName=self._table.name, Key={schema.PK: s(VAULT_PK), schema.SK: s(_sk(key))}
            )

        await anyio.to_thread.run_sync(run)

    async def keys(self, prefix: str = "") -> list[str]:
        def run() -> list[str]:
            names: list[str] = []
            kwargs: dict[str, Any] = {
                "TableName": self._table.name,
                "KeyConditionExpression": "PK = :pk AND begins_with(SK, :sk)",
                "ExpressionAttributeValues": {":pk": s(VAULT_PK), ":sk": s(_sk(prefix))},
                "ProjectionExpression": "SK",
                "ConsistentRead": True,
            }
            while True:
                out = self._table.call("query", **kwargs)
                names += [item[schema.SK]["S"][2:] for item in out.get("Items", [])]
                if "LastEvaluatedKey" not in out:
                    return sorted(names)
                kwargs["ExclusiveStartKey"] = out["LastEvaluatedKey"]

        return await anyio.to_thread.run_sync(run)
