"""API Gateway API keys, one per org, attached to the stack's usage plan (dexa.auth.gateway.GatewayKeys).

The key is named `dexa-<org_id>` and tagged with the org, so a retry after a crash between "create key" and
"attach to plan" finds the key it made instead of making a second one. boto3 honours AWS_ENDPOINT_URL, so the same
code runs against moto's server.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import anyio.to_thread
from botocore.exceptions import ClientError

from dexa.auth.gateway import GatewayKey
from dexa.core.errors import ConfigError, StorageError

logger = logging.getLogger(__name__)

ORG_TAG = "dexa:org"


def key_name(org_id: str) -> str:
    return f"dexa-{org_id}"


class ApiGatewayKeys:
    """Args:
    usage_plan_id: the plan every org key joins (the DexaApi stack's `UsagePlanId` output).
    client: a boto3 `apigateway` client; one is created when omitted.
    """

    def __init__(self, usage_plan_id: str, *, client: Any = None, region: str | None = None) -> None:
        if not usage_plan_id:
            raise ConfigError("an API Gateway usage plan id is needed (the DexaApi stack output UsagePlanId)")
        if client is None:
            from .clients import aws_client

            client = aws_client("apigateway", region=region)
        self.usage_plan_id = usage_plan_id
        self._c = client

    async def issue(self, org_id: str, org_name: str) -> GatewayKey:
        return await anyio.to_thread.run_sync(self._issue, org_id, org_name)

    def _issue(self, org_id: str, org_name: str) -> GatewayKey:
        try:
            self._c.get_usage_plan(usagePlanId=self.usage_plan_id)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "NotFoundException":
                raise ConfigError(f"API Gateway usage plan {self.usage_plan_id!r} does not exist") from exc
            raise StorageError(f"API Gateway: {exc}") from exc
        try:
            key = self._find(org_id) or self._c.create_api_key(
                name=key_name(org_id),
                description=f"Dexa org {org_name}"[:200],
                enabled=True,
                tags={ORG_TAG: org_id},
            )
            self._attach(str(key["id"]))
        except ClientError as exc:
            raise StorageError(f"API Gateway key for org {org_id}: {exc}") from exc
        logger.info("gateway key %s for org %s joined usage plan %s", key["id"], org_id, self.usage_plan_id)
        return GatewayKey(
            id=str(key["id"]), value=str(key["value"]), usage_plan_id=self.usage_plan_id, created_at=time.time()
        )

    def _find(self, org_id: str) -> dict[str, Any] | None:
        pages = self._c.get_paginator("get_api_keys").paginate(nameQuery=key_name(org_id), includeValues=True)
        for page in pages:
            for item in page.get("items", []):
                # nameQuery is a prefix match: org_1 must not pick up org_12's key.
                if item.get("name") == key_name(org_id) and (item.get("tags") or {}).get(ORG_TAG, org_id) == org_id:
                    return item
        return None

    def _attach(self, key_id: str) -> None:
        try:
            self._c.create_usage_plan_key(usagePlanId=self.usage_plan_id, keyId=key_id, keyType="API_KEY")
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConflictException":  # already attached by a retry
                raise
