"""The reviewer side of the synthesized app: the link key and Slack token secrets, the vault's KMS key and the public
URL parameter reach the functions that need them, with grants no wider than that; the webhooks role may write
overflow payloads to the bucket."""

from __future__ import annotations

import re
from typing import Any

NEEDS_REVIEW = ("Api", "AgentStep", "Webhooks", "Scheduler")


def _resources(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: r for k, r in template["Resources"].items() if r["Type"] == kind}


def _functions(templates: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        f"{stack}/{name}": r
        for stack, t in templates.items()
        for name, r in _resources(t, "AWS::Lambda::Function").items()
    }


def _env(fn: dict[str, Any]) -> dict[str, Any]:
    return fn["Properties"]["Environment"]["Variables"]


def test_the_data_stack_generates_the_link_key_and_holds_the_slack_token(templates: dict[str, Any]) -> None:
    secrets = _resources(templates["DexaData"], "AWS::SecretsManager::Secret")
    by_purpose = {s["Properties"]["Description"].split(" ", 2)[1]: s["Properties"] for s in secrets.values()}
    assert by_purpose["approval-link"]["GenerateSecretString"]["PasswordLength"] == 64
    assert by_purpose["approval-link"]["GenerateSecretString"]["ExcludePunctuation"] is True
    assert "bot" in by_purpose
    (param,) = _resources(templates["DexaApi"], "AWS::SSM::Parameter").values()
    assert param["Properties"]["Name"] == "/dexa/public-url"


def test_functions_that_announce_or_redeem_get_the_vault_key_link_key_token_and_url(templates: dict[str, Any]) -> None:
    functions = _functions(templates)
    for ident in NEEDS_REVIEW:
        (fn,) = [f for name, f in functions.items() if re.fullmatch(f"{ident}[0-9A-F]{{8}}", name.split("/")[1])]
        env = _env(fn)
        for var in ("DEXA_VAULT_KMS_KEY", "DEXA_LINK_KEY_ARN", "DEXA_SLACK_BOT_TOKEN_ARN", "DEXA_GITHUB_TOKEN_ARN"):
            assert isinstance(env[var], dict), f"{ident}: {var} must reference the stack's resource"
        assert env["DEXA_PUBLIC_URL_PARAMETER"] == "/dexa/public-url"
        assert "DEXA_MAIL_FROM" not in env  # mail stays off until -c dexa:mailFrom names a verified identity


def test_the_webhooks_role_may_write_overflow_payloads_to_the_bucket(templates: dict[str, Any]) -> None:
    policies = _resources(templates["DexaIntegrations"], "AWS::IAM::Policy")
    webhooks = [p for name, p in policies.items() if name.startswith("WebhooksServiceRole")]
    actions = {
        a
        for p in webhooks
        for st in p["Properties"]["PolicyDocument"]["Statement"]
        for a in ([st["Action"]] if isinstance(st["Action"], str) else st["Action"])
    }
    assert {"s3:PutObject", "s3:GetObject", "ssm:GetParameter", "secretsmanager:GetSecretValue"} <= actions
    assert not any(a.startswith("ssm:Put") or a == "s3:DeleteObject" for a in actions)
