"""`dexa cloud bootstrap` / `add-org` as an operator runs them: the real `dexa` process, AWS reached only through
AWS_ENDPOINT_URL (moto's server), the table and usage plan as a deployed stack would have them."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from dexa.adapters.aws.dynamo_store import DynamoStore
from dexa.auth.gateway import load_gateway_key
from dexa.auth.service import AuthService

DEXA = Path(sys.executable).with_name("dexa")
REGION = "us-east-1"


@pytest.fixture
def stack(moto_server: str, tmp_path: Path) -> dict[str, Any]:
    """A fresh table and usage plan on the server, plus the environment an operator's shell would have."""
    import boto3

    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DEXA_"))},
        "AWS_ENDPOINT_URL": moto_server,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "HOME": str(tmp_path),
        "DEXA_HOME": str(tmp_path / ".dexa"),
    }
    creds = {"region_name": REGION, "endpoint_url": moto_server, "aws_access_key_id": "t", "aws_secret_access_key": "t"}
    ddb, apigw = boto3.client("dynamodb", **creds), boto3.client("apigateway", **creds)
    table = f"dexa-{tmp_path.name}"
    DynamoStore(table, client=ddb).create_table()
    plan = apigw.create_usage_plan(name=f"plan-{tmp_path.name}", quota={"limit": 100_000, "period": "DAY"})["id"]
    return {"env": env, "table": table, "plan": plan, "ddb": ddb, "apigw": apigw, "tmp": tmp_path}


def _dexa(stack: dict[str, Any], *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(DEXA), "cloud", *args],
        env=env or stack["env"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=stack["tmp"],
    )


def _auth(stack: dict[str, Any]) -> AuthService:
    return AuthService(DynamoStore(stack["table"], client=stack["ddb"]))


def test_bootstrap_creates_org_admin_key_and_gateway_key_once(stack: dict[str, Any]) -> None:
    flags = ["--table", stack["table"], "--usage-plan-id", stack["plan"], "--org", "acme", "--admin", "alice"]
    first = _dexa(stack, "bootstrap", *flags)
    assert first.returncode == 0, first.stderr
    token = first.stdout.strip().splitlines()[-1]
    assert token.startswith("dexa_") and "usage plan" in first.stdout

    auth = _auth(stack)
    who = asyncio.run(auth.authenticate(token))
    assert who.role == "admin" and who.can("keys:write")
    org = asyncio.run(auth.get_org(who.org_id))
    assert org.name == "acme"
    gateway = asyncio.run(load_gateway_key(auth.store, who.org_id))
    assert gateway is not None and gateway.usage_plan_id == stack["plan"]
    plan_keys = stack["apigw"].get_usage_plan_keys(usagePlanId=stack["plan"])["items"]
    assert [(k["id"], k["value"]) for k in plan_keys] == [(gateway.id, gateway.value)]

    again = _dexa(stack, "bootstrap", *flags)
    assert again.returncode == 0, again.stderr
    assert "Already bootstrapped" in again.stdout and "dexa_" not in again.stdout
    assert len(asyncio.run(auth.list_users(who.org_id))) == 1
    assert len(asyncio.run(auth.list_keys(who.org_id))) == 1
    assert len(stack["apigw"].get_api_keys()["items"]) == 1

    more = _dexa(stack, "bootstrap", *flags[:4], "--new-admin", "--admin", "bob", "--json")
    assert more.returncode == 0, more.stderr
    doc = json.loads(more.stdout)
    assert doc["created"] and doc["org_id"] == who.org_id and doc["admin_id"] != who.user_id
    assert doc["gateway_key_id"] == gateway.id  # the org keeps its one gateway key (and its one quota)
    assert asyncio.run(auth.authenticate(doc["token"])).user_id == doc["admin_id"]


def test_settings_come_from_env_or_the_cdk_outputs_file_and_each_org_gets_its_own_quota(
    stack: dict[str, Any],
) -> None:
    outputs = stack["tmp"] / "outputs.json"
    outputs.write_text(
        json.dumps({"DexaData": {"TableName": stack["table"]}, "DexaApi": {"UsagePlanId": stack["plan"]}})
    )
    first = _dexa(stack, "bootstrap", "--outputs", str(outputs), "--json")
    assert first.returncode == 0, first.stderr
    env = {**stack["env"], "DEXA_TABLE": stack["table"], "DEXA_USAGE_PLAN_ID": stack["plan"]}
    second = _dexa(stack, "add-org", "globex", "--admin", "carol", "--json", env=env)
    assert second.returncode == 0, second.stderr
    a, b = json.loads(first.stdout), json.loads(second.stdout)
    assert a["org_id"] != b["org_id"] and a["gateway_key"] != b["gateway_key"]
    attached = {k["id"] for k in stack["apigw"].get_usage_plan_keys(usagePlanId=stack["plan"])["items"]}
    assert attached == {a["gateway_key_id"], b["gateway_key_id"]}
    who = asyncio.run(_auth(stack).authenticate(b["token"]))
    assert who.org_id == b["org_id"] and who.role == "admin"


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--usage-plan-id", "x"], "--table"),
        (["--table", "t"], "--usage-plan-id"),
        (["--table", "TABLE", "--usage-plan-id", "nope"], "usage plan 'nope' does not exist"),
    ],
)
def test_a_missing_or_wrong_setting_is_named(stack: dict[str, Any], args: list[str], named: str) -> None:
    args = [a.replace("TABLE", stack["table"]) for a in args]
    res = _dexa(stack, "bootstrap", "--stack-prefix", "Nowhere", *args)
    assert res.returncode == 2
    assert named in res.stderr.replace("\n", " ")
