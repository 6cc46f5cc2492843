"""One contract suite per storage port, parametrized over the embedded adapters and the AWS ones under moto."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from dexa.adapters.sqlite import FileBlobStore, SqliteStore
from dexa.core.ports import BlobStore, Store

_names = itertools.count()


@pytest.fixture(scope="session")
def aws_clients() -> dict[str, Any]:
    """Clients are slow to build (~0.2 s each) and thread-safe: build them once; every test gets fresh moto state."""
    import boto3.session
    import moto  # noqa: F401  # registers moto's botocore hook; clients built before it would reach AWS

    # A session of its own: boto3's default one may predate moto's hook, and its clients would then reach AWS.
    session = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    )
    return {"dynamodb": session.client("dynamodb"), "s3": session.client("s3")}


@pytest.fixture
def aws() -> Iterator[None]:
    from moto import mock_aws

    from dexa.adapters.aws.moto_harness import serialized_dynamodb

    with mock_aws(), serialized_dynamodb():
        yield


@pytest.fixture(params=["sqlite", "dynamo"])
def store_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], Store]:
    """Each call returns another handle on the same backing store (another process, another Lambda)."""
    if request.param == "sqlite":
        return lambda: SqliteStore(tmp_path / "contract.db")
    request.getfixturevalue("aws")
    clients = request.getfixturevalue("aws_clients")
    from dexa.adapters.aws import DynamoStore, S3BlobStore

    table, bucket = f"dexa-{next(_names)}", f"dexa-blobs-{next(_names)}"
    clients["s3"].create_bucket(Bucket=bucket)
    DynamoStore(table, client=clients["dynamodb"]).create_table()
    return lambda: DynamoStore(table, client=clients["dynamodb"], overflow=S3BlobStore(bucket, client=clients["s3"]))


@pytest.fixture
def store(store_factory: Callable[[], Store]) -> Store:
    return store_factory()


@pytest.fixture(params=["file", "s3"])
def blobs(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    if request.param == "file":
        return FileBlobStore(tmp_path / "blobs")
    request.getfixturevalue("aws")
    clients = request.getfixturevalue("aws_clients")
    from dexa.adapters.aws import S3BlobStore

    bucket = f"dexa-blobs-{next(_names)}"
    clients["s3"].create_bucket(Bucket=bucket)
    return S3BlobStore(bucket, client=clients["s3"])
