"""DynamoDB TransactWriteItems in moto without copying whole tables (loaded by moto_launcher.py).

moto backs up every table a transaction touches with copy.deepcopy before applying it, so each transaction costs
time in proportion to the whole table (hundreds of ms once the suite has written a few thousand items), holding the
GIL that every other request waits on. On AWS the cost does not grow with the table, so the harness measured an
emulator artefact no product change could touch. Here the conditions are evaluated first, all on the state before
the transaction (as DynamoDB does: a transaction's items are distinct), and only a transaction whose conditions all
hold is applied; only the items it names are backed up. Writes take one lock, so a conditional write is atomic
against a transaction, as on DynamoDB.
"""

from __future__ import annotations

import copy
import threading
from typing import Any

from moto.dynamodb import models
from moto.dynamodb.comparisons import get_filter_expression
from moto.dynamodb.exceptions import (
    MockValidationException,
    MultipleTransactionsException,
    TooManyTransactionsException,
    TransactionCanceledException,
    TransactWriteSingleOpException,
)

_lock = threading.RLock()
_OK = (None, None, None)


def _key(backend: Any, op_type: str, op: dict[str, Any]) -> dict[str, Any]:
    if op_type != "Put":
        return op["Key"]
    table = backend.get_table(op["TableName"])
    key = {table.hash_key_attr: op["Item"][table.hash_key_attr]}
    if table.range_key_attr is not None:
        key[table.range_key_attr] = op["Item"][table.range_key_attr]
    return key


def _check(backend: Any, op_type: str, op: dict[str, Any], key: dict[str, Any]) -> tuple[Any, Any, Any]:
    """moto's cancellation reason for one item: (code, message, old item) or _OK."""
    current = backend.get_item(op["TableName"], key)
    condition = op.get("ConditionExpression")
    if condition is None:
        return _OK
    expr = get_filter_expression(condition, op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues"))
    if expr.expr(current):
        return _OK
    old = None
    if op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current:
        old = current.to_json()["Attributes"]
    return ("ConditionalCheckFailed", "The conditional request failed", old)


def _apply(backend: Any, op_type: str, op: dict[str, Any], key: dict[str, Any]) -> None:
    table_name = op["TableName"]
    if op_type == "Put":
        backend.put_item(table_name, op["Item"])
    elif op_type == "Delete":
        backend.delete_item(table_name, key)
    elif op_type == "Update":
        backend.update_item(
            table_name,
            key,
            update_expression=op["UpdateExpression"],
            expression_attribute_names=op.get("ExpressionAttributeNames"),
            expression_attribute_values=op.get("ExpressionAttributeValues"),
        )


def _plan(backend: Any, transact_items: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """The operations to apply, once every condition held; raises what moto raises when one does not."""
    seen: set[tuple[str, str]] = set()
    errors: list[tuple[Any, Any, Any]] = []
    plan: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
    for entry in transact_items:
        if len(entry) > 1:
            raise TransactWriteSingleOpException
        op_type, op = next(iter(entry.items()))
        try:
            if op_type not in {"ConditionCheck", "Put", "Delete", "Update"}:
                raise ValueError("Unsupported transaction operation")
            key = _key(backend, op_type, op)
            ident = (str(op["TableName"]), str(dict(sorted(key.items()))))
            if ident in seen:
                raise MultipleTransactionsException()
            seen.add(ident)
            errors.append(_check(backend, op_type, op, key))
            plan.append((op_type, op, key))
        except (MultipleTransactionsException, MockValidationException):
            raise
        except Exception as exc:
            errors.append((type(exc).__name__, str(exc), None))
    if any(code is not None for code, _, _ in errors):
        raise TransactionCanceledException(errors)
    return plan


def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
    if len(transact_items) > 100:
        raise TooManyTransactionsException()
    with _lock:
        done: list[tuple[str, dict[str, Any], Any]] = []
        try:
            for op_type, op, key in _plan(self, transact_items):
                done.append((op["TableName"], key, copy.deepcopy(self.get_item(op["TableName"], key))))
                _apply(self, op_type, op, key)
        except Exception:
            for table_name, key, before in reversed(done):  # an update moto rejects half-way: undo what applied
                if before is None:
                    self.delete_item(table_name, key)
                else:
                    self.put_item(table_name, before.to_json()["Attributes"])
            raise


def _locked(fn: Any) -> Any:
    def run(self: Any, *args: Any, **kwargs: Any) -> Any:
        with _lock:
            return fn(self, *args, **kwargs)

    return run


def transactions_without_table_copy() -> None:
    backend = models.DynamoDBBackend
    for name in ("put_item", "update_item", "delete_item"):
        setattr(backend, name, _locked(getattr(backend, name)))
    backend.transact_write_items = transact_write_items  # type: ignore[method-assign]
