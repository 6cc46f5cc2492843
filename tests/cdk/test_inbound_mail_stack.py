"""SES inbound mail in the synthesized app: off by default; with -c dexa:inboundMailDomain a receipt rule stores
each message in a TLS-only, expiring bucket, then invokes the webhooks function, which may read only those objects."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest


def _resources(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: r for k, r in template["Resources"].items() if r["Type"] == kind}


def _webhooks_env(template: dict[str, Any]) -> dict[str, Any]:
    (fn,) = [r for name, r in _resources(template, "AWS::Lambda::Function").items() if name.startswith("Webhooks")]
    return fn["Properties"]["Environment"]["Variables"]


def test_inbound_mail_is_off_by_default(templates: dict[str, Any]) -> None:
    integrations = templates["DexaIntegrations"]
    assert not _resources(integrations, "AWS::SES::ReceiptRule")
    assert "DEXA_INBOUND_MAIL_BUCKET" not in _webhooks_env(integrations)


@pytest.fixture(scope="module")
def with_domain(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from stacks.synth import synthesize

    out: Path = tmp_path_factory.mktemp("cdk.inbound")
    return synthesize(out, context={"dexa:inboundMailDomain": "in.dexa.example"})["DexaIntegrations"]


def test_a_receipt_rule_stores_then_invokes_the_webhooks_function(with_domain: dict[str, Any]) -> None:
    (rule,) = _resources(with_domain, "AWS::SES::ReceiptRule").values()
    props = rule["Properties"]["Rule"]
    assert props["Recipients"] == ["in.dexa.example"] and props["ScanEnabled"] is True
    first, second = props["Actions"]
    assert first["S3Action"]["ObjectKeyPrefix"] == "mail/"
    assert second["LambdaAction"]["InvocationType"] == "Event"
    env = _webhooks_env(with_domain)
    assert env["DEXA_INBOUND_MAIL_PREFIX"] == "mail/" and isinstance(env["DEXA_INBOUND_MAIL_BUCKET"], dict)
    permissions = _resources(with_domain, "AWS::Lambda::Permission").values()
    assert any(p["Properties"]["Principal"] == "ses.amazonaws.com" for p in permissions)
    # SES invokes asynchronously: a message the function fails on is retried, then kept in a queue with an alarm.
    (webhooks,) = [k for k in _resources(with_domain, "AWS::Lambda::Function") if k.startswith("Webhooks")]
    configs = [c["Properties"] for c in _resources(with_domain, "AWS::Lambda::EventInvokeConfig").values()]
    (config,) = [c for c in configs if c["FunctionName"] == {"Ref": webhooks}]
    destination = config["DestinationConfig"]["OnFailure"]["Destination"]["Fn::GetAtt"][0]
    assert destination.startswith("InboundMailDlq") and config["MaximumRetryAttempts"] == 2
    alarms = [a["Properties"] for a in _resources(with_domain, "AWS::CloudWatch::Alarm").values()]
    assert any(destination in str(a["Dimensions"]) for a in alarms)


def test_the_bucket_is_private_tls_only_expiring_and_readable_by_the_webhooks_function(
    with_domain: dict[str, Any],
) -> None:
    buckets = _resources(with_domain, "AWS::S3::Bucket")
    (bucket,) = [b for name, b in buckets.items() if name.startswith("InboundMail")]
    assert bucket["Properties"]["LifecycleConfiguration"]["Rules"][0]["ExpirationInDays"] == 7
    assert bucket["Properties"]["PublicAccessBlockConfiguration"]["RestrictPublicBuckets"] is True
    (policy,) = _resources(with_domain, "AWS::S3::BucketPolicy").values()
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    assert any(s["Effect"] == "Deny" and "aws:SecureTransport" in str(s.get("Condition")) for s in statements)
    assert any(s.get("Principal", {}).get("Service") == "ses.amazonaws.com" for s in statements)
    webhooks = [
        st
        for name, p in _resources(with_domain, "AWS::IAM::Policy").items()
        if name.startswith("WebhooksServiceRole")
        for st in p["Properties"]["PolicyDocument"]["Statement"]
    ]
    reads = [st for st in webhooks if st["Action"] == "s3:GetObject" and "mail/*" in str(st["Resource"])]
    assert reads, webhooks
