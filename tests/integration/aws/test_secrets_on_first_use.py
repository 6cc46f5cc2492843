"""Secrets and parameters a cold container may never need are read on first use (issue 14, API <= 500 ms): the
Modal token when a workspace first needs it, the public URL when a link is first built. Both still arrive then.
(That a cold API request reads neither is pinned by test_api_cold_path.py.)"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import boto3
import pytest

from dexa.adapters.aws.lambda_entry import OPTIONAL_SECRETS, load_secrets
from dexa.adapters.modal.durable import require_token
from dexa.core import env_on_demand
from dexa.core.errors import ConfigError
from dexa.settings import DexaSettings
from dexa.wiring import build_runtime


@pytest.fixture
def deployed(aws: None, monkeypatch: pytest.MonkeyPatch) -> Any:
    """os.environ as a function's, with no token yet; the on-demand loaders of this test only."""
    monkeypatch.setattr(env_on_demand, "_loaders", {})
    monkeypatch.setattr(env_on_demand, "_supplied", set())
    for name in ("MODAL_TOKEN_ID", "MODAL_TOKEN_SECRET", "MODAL_CONFIG_PATH"):
        monkeypatch.setenv(name, "")
    monkeypatch.setenv("HOME", "/nonexistent")  # no ~/.modal.toml
    return boto3.client("secretsmanager", region_name="us-east-1")


def _counting(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    import dexa.adapters.aws.clients as clients

    made: list[str] = []
    real = clients.aws_client

    def counted(service: str, **kwargs: Any) -> Any:
        made.append(service)
        return real(service, **kwargs)

    monkeypatch.setattr(clients, "aws_client", counted)
    return made


def test_the_modal_token_is_read_when_a_workspace_first_needs_it(
    deployed: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    arn = deployed.create_secret(Name="modal", SecretString=json.dumps({"token_id": "ak-1", "token_secret": "as-2"}))
    monkeypatch.setenv("DEXA_MODAL_SECRET_ARN", arn["ARN"])
    made = _counting(monkeypatch)
    load_secrets(defer=OPTIONAL_SECRETS)
    snapshot = dict(os.environ)  # what the runtime keeps (build_runtime copies the environment)
    assert made == [] and not os.environ["MODAL_TOKEN_ID"]
    require_token(snapshot)  # the workspace's first use: read now, no error
    assert os.environ["MODAL_TOKEN_ID"] == "ak-1" and os.environ["MODAL_TOKEN_SECRET"] == "as-2"
    require_token(snapshot)
    assert made == ["secretsmanager"]  # once


def test_an_unset_modal_secret_read_on_first_use_is_the_clear_error_it_was(
    deployed: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    arn = deployed.create_secret(Name="modal", SecretString="k7#Vq!generated-by-cdk")["ARN"]
    monkeypatch.setenv("DEXA_MODAL_SECRET_ARN", arn)
    load_secrets(defer=OPTIONAL_SECRETS)
    with pytest.raises(ConfigError, match="DEXA_MODAL_SECRET_ARN"):
        require_token(dict(os.environ))


def test_the_public_url_is_read_from_ssm_when_first_used(
    aws: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    boto3.client("ssm", region_name="us-east-1").put_parameter(
        Name="/dexa/url", Value="https://api.example/v1/", Type="String"
    )
    monkeypatch.setenv("DEXA_PUBLIC_URL_PARAMETER", "/dexa/url")
    monkeypatch.delenv("DEXA_PUBLIC_URL", raising=False)
    made = _counting(monkeypatch)
    runtime = build_runtime(DexaSettings(home=tmp_path / "home", store="sqlite"))  # type: ignore[call-arg]
    assert "ssm" not in made
    assert runtime.base_url == "https://api.example/v1"
    assert runtime.base_url == "https://api.example/v1" and made.count("ssm") == 1
    runtime.base_url = "https://set.example"  # a value set wins over the lookup
    assert runtime.base_url == "https://set.example"
