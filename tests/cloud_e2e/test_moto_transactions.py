"""The harness's moto transactions (moto_transactions.py) keep DynamoDB's all-or-nothing semantics."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("moto")


@pytest.fixture
def ddb(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    import boto3
    from moto import mock_aws
    from moto.dynamodb.models import DynamoDBBackend

    from . import moto_transactions

    monkeypatch.setattr(DynamoDBBackend, "transact_write_items", moto_transactions.transact_write_items)
    with mock_aws():
        client = boto3.client(
            "dynamodb", region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
        )
        client.create_table(
            TableName="t",
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"} for a in ("PK", "SK")],
            KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}],
        )
        yield client


def _put(sk: str, *, absent: bool = True, **attrs: Any) -> dict[str, Any]:
    op: dict[str, Any] = {"TableName": "t", "Item": {"PK": {"S": "p"}, "SK": {"S": sk}, **attrs}}
    if absent:
        op["ConditionExpression"] = "attribute_not_exists(SK)"
    return {"Put": op}


def _items(ddb: Any) -> dict[str, dict[str, Any]]:
    out = ddb.query(TableName="t", KeyConditionExpression="PK = :p", ExpressionAttributeValues={":p": {"S": "p"}})
    return {i["SK"]["S"]: i for i in out["Items"]}


def test_a_transaction_whose_conditions_hold_applies_every_item(ddb: Any) -> None:
    ddb.transact_write_items(TransactItems=[_put("a"), _put("b")])
    ddb.transact_write_items(
        TransactItems=[
            {
                "Update": {
                    "TableName": "t",
                    "Key": {"PK": {"S": "p"}, "SK": {"S": "a"}},
                    "UpdateExpression": "SET n = :n",
                    "ConditionExpression": "attribute_exists(SK)",
                    "ExpressionAttributeValues": {":n": {"N": "1"}},
                }
            },
            {"Delete": {"TableName": "t", "Key": {"PK": {"S": "p"}, "SK": {"S": "b"}}}},
        ]
    )
    items = _items(ddb)
    assert sorted(items) == ["a"] and items["a"]["n"] == {"N": "1"}


def test_one_failed_condition_applies_nothing_and_reports_each_item(ddb: Any) -> None:
    ddb.transact_write_items(TransactItems=[_put("taken", v={"S": "old"})])
    update = {
        "Update": {
            "TableName": "t",
            "Key": {"PK": {"S": "p"}, "SK": {"S": "counter"}},
            "UpdateExpression": "SET n = :n",
            "ExpressionAttributeValues": {":n": {"N": "5"}},
        }
    }
    taken = _put("taken", v={"S": "new"})
    taken["Put"]["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
    with pytest.raises(ddb.exceptions.TransactionCanceledException) as caught:
        ddb.transact_write_items(TransactItems=[update, taken])
    reasons = caught.value.response["CancellationReasons"]
    assert [r["Code"] for r in reasons] == ["None", "ConditionalCheckFailed"]
    assert reasons[1]["Item"]["v"] == {"S": "old"}
    assert sorted(_items(ddb)) == ["taken"] and _items(ddb)["taken"]["v"] == {"S": "old"}


def test_one_item_twice_is_refused(ddb: Any) -> None:
    with pytest.raises(ddb.exceptions.ClientError, match="ValidationException"):
        ddb.transact_write_items(TransactItems=[_put("x"), _put("x", absent=False)])
    assert _items(ddb) == {}
