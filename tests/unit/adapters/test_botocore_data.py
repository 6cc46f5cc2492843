"""botocore's data files pre-parsed for the Lambda layer (dexa.adapters.aws.botocore_data): what a client reads from
them is what botocore reads from its JSON, nothing of them is parsed as JSON again, anything else still is, and a
file on AWS_DATA_PATH still wins."""

from __future__ import annotations

import ast
import json
import marshal
from pathlib import Path
from typing import Any

import botocore
import botocore.loaders
import pytest
from botocore.loaders import Loader

from dexa.adapters.aws import botocore_data
from dexa.adapters.aws.botocore_data import INDEX, SERVICES, build, loader

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def shipped(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("botocore-data") / "_botocore_data"
    assert build(out, ["dynamodb", "stepfunctions"]) > 5
    return out


@pytest.fixture
def parsed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The data files botocore parses from JSON from now on (relative to its data directory)."""
    seen: list[str] = []
    real = botocore.loaders.JSONFileLoader._load_file  # pyright: ignore[reportPrivateUsage]

    def recording(self: Any, full_path: str, open_method: Any) -> Any:
        data = real(self, full_path, open_method)
        if data is not None:
            seen.append(full_path.split("/botocore/data/")[-1])
        return data

    monkeypatch.setattr(botocore.loaders.JSONFileLoader, "_load_file", recording)
    return seen


def test_a_client_reads_the_same_data_from_the_shipped_files_and_parses_none_of_them(
    shipped: Path, parsed: list[str]
) -> None:
    fast, plain = loader(root=shipped), Loader()
    assert fast is not None
    for service in ("dynamodb", "stepfunctions"):
        for type_name in ("service-2", "endpoint-rule-set-1", "paginators-1"):
            assert fast.load_service_model(service, type_name) == plain.load_service_model(service, type_name)
    assert fast.load_data("endpoints") == plain.load_data("endpoints")
    assert fast.load_data_with_path("partitions")[1] == plain.load_data_with_path("partitions")[1]
    for type_name in botocore_data.TYPE_NAMES:
        assert fast.list_available_services(type_name) == plain.list_available_services(type_name)
    parsed.clear()
    fresh = loader(root=shipped)
    assert fresh is not None
    fresh.load_service_model("dynamodb", "service-2")
    fresh.load_service_model("dynamodb", "endpoint-rule-set-1")
    fresh.load_data_with_path("endpoints")
    fresh.load_data("partitions")
    assert parsed == []  # all of it came pre-parsed
    fresh.load_service_model("sqs", "service-2")  # not shipped: botocore's JSON, as ever
    assert parsed == ["sqs/2012-11-05/service-2.json.gz"]


def test_a_client_made_with_it_resolves_and_serializes_as_botocore_does(
    shipped: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import botocore.session

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "t")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "t")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    session = botocore.session.Session()
    session.register_component("data_loader", loader(root=shipped))
    client = session.create_client("dynamodb", region_name="eu-west-3")
    assert client.meta.endpoint_url == "https://dynamodb.eu-west-3.amazonaws.com"
    assert "TransactWriteItems" in client.meta.service_model.operation_names
    assert client.get_paginator("query").paginate  # paginators come from the shipped files too


def test_nothing_is_used_for_another_botocore_a_writable_index_or_no_index(shipped: Path, tmp_path: Path) -> None:
    assert loader(root=tmp_path / "none") is None
    other = tmp_path / "other"
    other.mkdir()
    index = marshal.loads((shipped / INDEX).read_bytes())
    (other / INDEX).write_bytes(marshal.dumps({**index, "botocore": "0.0.1"}))
    assert loader(root=other) is None
    (other / INDEX).write_bytes(marshal.dumps(index))
    assert loader(root=other) is not None
    (other / INDEX).chmod(0o666)  # anyone may write it: untrusted, like a writable bytecode table
    assert loader(root=other) is None
    (other / INDEX).chmod(0o644)
    (other / INDEX).write_bytes(b"\x00not marshal")
    assert loader(root=other) is None


def test_a_file_on_aws_data_path_still_wins_and_its_services_are_listed(
    shipped: Path, tmp_path: Path, parsed: list[str]
) -> None:
    plain = Loader().load_service_model("dynamodb", "service-2")
    custom = tmp_path / "models"
    (custom / "dynamodb" / "2012-08-10").mkdir(parents=True)
    (custom / "dynamodb" / "2012-08-10" / "service-2.json").write_text(
        json.dumps({**plain, "metadata": {**plain["metadata"], "serviceFullName": "Custom DynamoDB"}})
    )
    (custom / "dexa-made-up" / "2020-01-01").mkdir(parents=True)
    (custom / "dexa-made-up" / "2020-01-01" / "service-2.json").write_text(json.dumps(plain))
    fast = loader(str(custom), root=shipped)
    assert fast is not None
    assert fast.load_service_model("dynamodb", "service-2")["metadata"]["serviceFullName"] == "Custom DynamoDB"
    assert "dexa-made-up" in fast.list_available_services("service-2")


def test_every_service_dexa_makes_a_client_for_is_shipped() -> None:
    """The services named where clients are made (aws_client / shared_client / LazyClient) are all in SERVICES,
    so no cold function parses a model the layer could have shipped."""
    named: set[str] = set()
    for path in (ROOT / "shared" / "dexa").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.Call) or not node.args or not isinstance(node.args[0], ast.Constant):
                continue
            func = node.func
            name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
            if name in ("aws_client", "shared_client", "LazyClient") and isinstance(node.args[0].value, str):
                named.add(node.args[0].value)
    assert {"dynamodb", "stepfunctions", "s3"} <= named  # the scan finds them
    assert named <= set(SERVICES), f"not shipped pre-parsed: {sorted(named - set(SERVICES))}"


def test_an_unknown_service_is_a_clear_build_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=f"botocore {botocore.__version__} has no data for service 'dexa-nope'"):
        build(tmp_path / "out", ["dexa-nope"])
