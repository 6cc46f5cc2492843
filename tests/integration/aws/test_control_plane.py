"""What the cloud runtime picks from the environment the stacks set (moto): the KMS vault, the Secrets Manager link
key, the public URL the API stack publishes in SSM, and reviewer notices only where Slack or mail is configured."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest

from dexa.adapters.aws.dynamo_vault import DynamoVault
from dexa.integrations.vault import FileVault
from dexa.runtime.control_plane import attach_review_notifier, code_env, link_secret, open_vault, public_url
from dexa.settings import DexaSettings


def _settings(tmp_path: Path, store: str) -> DexaSettings:
    return DexaSettings(home=tmp_path / "home", store=store)  # type: ignore[call-arg]


def test_the_cloud_picks_the_kms_vault_and_the_stable_link_key(aws: None, tmp_path: Path) -> None:
    key = boto3.client("kms", region_name="us-east-1").create_key()["KeyMetadata"]["Arn"]
    arn = boto3.client("secretsmanager", region_name="us-east-1").create_secret(Name="k", SecretString="s" * 64)["ARN"]
    env = {"DEXA_TABLE": "dexa", "DEXA_VAULT_KMS_KEY": key, "DEXA_LINK_KEY_ARN": arn, "AWS_DEFAULT_REGION": "us-east-1"}
    cloud = _settings(tmp_path, "dynamo")
    assert isinstance(open_vault(cloud, env), DynamoVault)
    assert link_secret(cloud, env) == [b"s" * 64]
    # Two containers of one deployment sign alike; locally the key is the installation's own file.
    assert link_secret(cloud, env) == link_secret(_settings(tmp_path / "other", "dynamo"), env)
    local = _settings(tmp_path, "sqlite")
    assert isinstance(open_vault(local, {}), FileVault)
    assert link_secret(local, {}) == (tmp_path / "home" / "link.key").read_bytes()


def test_the_public_url_comes_from_the_env_or_the_apis_ssm_parameter(aws: None) -> None:
    ssm = boto3.client("ssm", region_name="us-east-1")
    ssm.put_parameter(
        Name="/dexa/public-url", Value="https://abc.execute-api.us-east-1.amazonaws.com/v1/", Type="String"
    )
    env = {"DEXA_PUBLIC_URL_PARAMETER": "/dexa/public-url", "AWS_DEFAULT_REGION": "us-east-1"}
    assert public_url(env, "http://127.0.0.1:4096") == "https://abc.execute-api.us-east-1.amazonaws.com/v1"
    assert public_url({**env, "DEXA_PUBLIC_URL": "https://dexa.acme.test"}, "x") == "https://dexa.acme.test"
    missing = {**env, "DEXA_PUBLIC_URL_PARAMETER": "/nope"}
    assert public_url(missing, "http://127.0.0.1:4096") == "http://127.0.0.1:4096"


@pytest.mark.parametrize(
    ("env", "attached"),
    [({}, False), ({"DEXA_MAIL_FROM": "dexa@acme.test"}, True), ({"DEXA_SLACK_BOT_TOKEN_ARN": "arn:x"}, True)],
)
def test_notices_are_attached_only_where_slack_or_mail_is_configured(
    aws: None, env: dict[str, str], attached: bool
) -> None:
    class Engine:
        observers: list[object] = []

    class Runtime:
        store = object()
        engine = Engine()

    Engine.observers = []
    notifier = attach_review_notifier(Runtime(), {**env, "AWS_DEFAULT_REGION": "us-east-1"})
    # The reviewer notices, and the answers to whoever asked by mail or in Slack (dexa.integrations.trigger_replies).
    assert (notifier is not None) == attached and len(Engine.observers) == 2 * int(attached)


def test_the_cloud_code_workflow_gets_its_github_token_from_the_secret_and_the_public_git_proxy(
    aws: None, tmp_path: Path
) -> None:
    sm = boto3.client("secretsmanager", region_name="us-east-1")
    arn = sm.create_secret(Name="gh", SecretString="ghs_fake_token")["ARN"]
    env = {"DEXA_GITHUB_TOKEN_ARN": arn, "AWS_DEFAULT_REGION": "us-east-1"}
    out = code_env(_settings(tmp_path, "dynamo"), dict(env), "https://api.dexa.test/v1")
    assert out["GITHUB_TOKEN"] == "ghs_fake_token" and out["DEXA_PUBLIC_URL"] == "https://api.dexa.test/v1"
    assert code_env(_settings(tmp_path, "sqlite"), dict(env), "http://127.0.0.1:4096") == env


def test_the_github_secret_may_name_the_forge_it_belongs_to(aws: None, tmp_path: Path) -> None:
    sm = boto3.client("secretsmanager", region_name="us-east-1")
    doc = {"token": "ghs_t", "api_url": "http://ghe.test/api/v3", "git_url": "http://ghe.test"}
    arn = sm.create_secret(Name="gh-json", SecretString=json.dumps(doc))["ARN"]
    env = {"DEXA_GITHUB_TOKEN_ARN": arn, "AWS_DEFAULT_REGION": "us-east-1"}
    out = code_env(_settings(tmp_path, "dynamo"), dict(env), "https://api.dexa.test/v1")
    assert (out["GITHUB_TOKEN"], out["DEXA_GITHUB_API_URL"], out["DEXA_GITHUB_URL"]) == (
        "ghs_t",
        "http://ghe.test/api/v3",
        "http://ghe.test",
    )
    # A URL pinned in the environment (the stack's -c dexa:githubApiUrl) wins over the secret's.
    pinned = code_env(_settings(tmp_path, "dynamo"), {**env, "DEXA_GITHUB_API_URL": "https://x"}, "https://a")
    assert pinned["DEXA_GITHUB_API_URL"] == "https://x"
    broken = sm.create_secret(Name="gh-bad", SecretString='{"api_url": "http://x"}')["ARN"]
    assert "GITHUB_TOKEN" not in code_env(
        _settings(tmp_path, "dynamo"), {**env, "DEXA_GITHUB_TOKEN_ARN": broken}, "https://a"
    )
