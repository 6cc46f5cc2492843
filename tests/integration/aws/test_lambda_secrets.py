"""Deployed secrets at cold start: an unset Modal token must not take every function down (issue 14 item 11).

CDK's Secret() holds a generated random string until someone puts the token in; that used to fail json.loads in
every function's cold start, so no step (not even the one recording a failure) could run.
"""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from dexa.adapters.aws.lambda_entry import load_secrets


@pytest.fixture
def secrets(aws: None) -> Any:
    return boto3.client("secretsmanager", region_name="us-east-1")


def _env(secrets: Any, modal_value: str | None) -> dict[str, str]:
    model = secrets.create_secret(Name="model", SecretString="sk-ant-test")["ARN"]
    if modal_value is None:
        modal = secrets.create_secret(Name="modal")["ARN"]  # a secret with no value at all
    else:
        modal = secrets.create_secret(Name="modal", SecretString=modal_value)["ARN"]
    return {"DEXA_ANTHROPIC_SECRET_ARN": model, "DEXA_MODAL_SECRET_ARN": modal}


@pytest.mark.parametrize("modal_value", [None, "k7#Vq!generated-by-cdk", '{"token_id": "ak-1"}'])
def test_an_unset_or_malformed_modal_secret_is_left_out_and_the_rest_loads(secrets: Any, modal_value: Any) -> None:
    env = _env(secrets, modal_value)
    load_secrets(env, client=secrets)
    assert env["ANTHROPIC_API_KEY"] == "sk-ant-test"
    assert "MODAL_TOKEN_ID" not in env and "MODAL_TOKEN_SECRET" not in env


def test_a_set_modal_secret_becomes_the_token(secrets: Any) -> None:
    env = _env(secrets, '{"token_id": "ak-1", "token_secret": "as-2"}')
    load_secrets(env, client=secrets)
    assert env["MODAL_TOKEN_ID"] == "ak-1" and env["MODAL_TOKEN_SECRET"] == "as-2"


def test_an_unreadable_model_secret_still_fails_the_cold_start(secrets: Any) -> None:
    env = {"DEXA_ANTHROPIC_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:missing-AbCdEf"}
    with pytest.raises(Exception, match=r"ResourceNotFound|can.t find"):
        load_secrets(env, client=secrets)
