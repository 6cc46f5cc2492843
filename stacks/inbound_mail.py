"""Mail to an org's address starts work (dexa.adapters.aws.ses_inbound): an SES receipt rule stores each message in
an inbound bucket, then invokes the webhooks function, which reads it from there.

Off unless CDK context `dexa:inboundMailDomain` names the domain (or subdomain) whose MX points at SES inbound in
this region; every org's address is `<anything>@<that domain>`, assigned with PUT /triggers/email. The rule set is
created but not activated (an account has one active set per region, which may already hold other rules):
`aws ses set-active-receipt-rule-set --rule-set-name <RuleSetName output>`.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_ses as ses
from aws_cdk import aws_ses_actions as ses_actions
from aws_cdk import aws_sns as sns
from constructs import Construct

from .ops import dead_letter_queue, queue_alarm

CONTEXT_DOMAIN = "dexa:inboundMailDomain"
ENV_BUCKET = "DEXA_INBOUND_MAIL_BUCKET"  # dexa.adapters.aws.ses_inbound reads these two
ENV_PREFIX = "DEXA_INBOUND_MAIL_PREFIX"
PREFIX = "mail/"
KEEP_DAYS = 7  # long enough for SES's retries and an operator's look; messages are not kept as records


def add_inbound_mail(
    scope: Construct, *, webhooks_fn: lambda_.Function, alarms: sns.Topic
) -> ses.ReceiptRuleSet | None:
    domain = scope.node.try_get_context(CONTEXT_DOMAIN)
    if not domain:
        return None
    bucket = s3.Bucket(
        scope,
        "InboundMail",
        encryption=s3.BucketEncryption.S3_MANAGED,  # SES's S3 action writes with SSE-S3 (a KMS key needs its grant)
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        enforce_ssl=True,
        lifecycle_rules=[s3.LifecycleRule(expiration=cdk.Duration.days(KEEP_DAYS))],
        removal_policy=cdk.RemovalPolicy.DESTROY,
        auto_delete_objects=False,
    )
    rule_set = ses.ReceiptRuleSet(scope, "InboundRules")
    rule_set.add_rule(
        "StartSessions",
        recipients=[domain],
        scan_enabled=True,  # the handler refuses what SES's spam and virus scans fail
        actions=[
            ses_actions.S3(bucket=bucket, object_key_prefix=PREFIX),
            ses_actions.Lambda(function=webhooks_fn, invocation_type=ses_actions.LambdaInvocationType.EVENT),
        ],
    )
    # SES invokes asynchronously (EVENT): a message the function fails on is retried by Lambda, then kept in the
    # queue (the message itself stays in the bucket for KEEP_DAYS), with an alarm. API Gateway's calls to the same
    # function are synchronous and unaffected.
    dlq = dead_letter_queue(scope, "InboundMailDlq")
    webhooks_fn.configure_async_invoke(
        retry_attempts=2, max_event_age=cdk.Duration.hours(6), on_failure=destinations.SqsDestination(dlq)
    )
    queue_alarm(scope, "InboundMailDlqNotEmpty", dlq, alarms)
    webhooks_fn.add_environment(ENV_BUCKET, bucket.bucket_name)
    webhooks_fn.add_environment(ENV_PREFIX, PREFIX)
    webhooks_fn.add_to_role_policy(
        iam.PolicyStatement(actions=["s3:GetObject"], resources=[bucket.arn_for_objects(f"{PREFIX}*")])
    )
    cdk.CfnOutput(scope, "InboundMailRuleSet", value=rule_set.receipt_rule_set_name)
    return rule_set
