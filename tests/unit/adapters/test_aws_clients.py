"""AWS clients from botocore alone (dexa.adapters.aws.clients): configured from the environment as boto3's would be,
sharing one data loader, and without importing boto3."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from dexa.adapters.aws.clients import aws_client


def test_a_client_takes_region_endpoint_and_credentials_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-3")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    client = aws_client("dynamodb")
    assert client.meta.region_name == "eu-west-3"
    assert client.meta.endpoint_url == "http://127.0.0.1:9"
    assert client._request_signer._credentials.access_key == "AKIDEXAMPLE"  # pyright: ignore[reportPrivateUsage]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDROTATED")  # a later client resolves afresh, as boto3's would
    assert aws_client("s3", region="us-east-2").meta.region_name == "us-east-2"
    assert aws_client("s3")._request_signer._credentials.access_key == "AKIDROTATED"  # pyright: ignore[reportPrivateUsage]


def test_clients_share_one_loader_and_never_import_boto3() -> None:
    probe = (
        "import sys; from dexa.adapters.aws.clients import aws_client; "
        "a = aws_client('dynamodb', region='us-east-1'); b = aws_client('stepfunctions', region='us-east-1'); "
        "print(a._loader is b._loader, 'boto3' in sys.modules)"
    )
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "t", "AWS_SECRET_ACCESS_KEY": "t"}
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", "False"]


def test_in_a_lambda_container_every_client_comes_from_one_session_and_is_its_own() -> None:
    probe = (
        "import json, botocore.session; made = []; real = botocore.session.Session.__init__\n"
        "def init(self, *a, **k):\n    made.append(1); real(self, *a, **k)\n"
        "botocore.session.Session.__init__ = init\n"
        "from dexa.adapters.aws.clients import aws_client\n"
        "a = aws_client('dynamodb'); b = aws_client('stepfunctions', region='eu-west-1'); c = aws_client('dynamodb')\n"
        "print(json.dumps([len(made), a is c, a.meta.events is c.meta.events, b.meta.region_name,"
        " a.meta.region_name, a._loader is b._loader]))"
    )
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "t", "AWS_SECRET_ACCESS_KEY": "t", "AWS_DEFAULT_REGION": "us-east-1"}
    lambda_env = {**env, "AWS_LAMBDA_FUNCTION_NAME": "DexaApi-Api"}
    out = subprocess.run([sys.executable, "-c", probe], env=lambda_env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    # One session (its construction, credential chain and endpoint resolver paid once); each client still has its
    # own event hooks and region.
    assert out.stdout.split("\n")[-2] == '[1, false, false, "eu-west-1", "us-east-1", true]'
    env.pop("AWS_LAMBDA_FUNCTION_NAME", None)
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[-2].startswith("[3, ")  # elsewhere each client resolves afresh
