"""What a function needs to run the control plane's reviewer side: the vault's KMS key, the approval-link key, the
Slack bot token, SES mail and the public URL that links point to.

The secrets live in the data stack (every other stack depends on it), so the agent step (which announces waiting
approvals), the API (which redeems links) and the webhooks function can all reference them without a cycle. The
API's URL is known only to the API stack, which the others precede; it reaches them through an SSM parameter with a
fixed name that functions read at cold start (dexa.runtime.control_plane), never through a template reference.

CDK context: `dexa:mailFrom` (a verified SES identity: address, its domain verified) turns mail on;
`dexa:publicUrl` (e.g. a custom domain) replaces the API's own URL; `dexa:slackApiUrl`, `dexa:githubApiUrl` and
`dexa:githubUrl` pin Slack and GitHub calls elsewhere at synth time. The same can be set without a redeploy in the
secrets themselves: the Slack bot token secret may be {"bot_token", "api_url"} (dexa.adapters.aws.secrets).
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_ssm as ssm
from constructs import Construct

CONTEXT_MAIL_FROM = "dexa:mailFrom"
CONTEXT_PUBLIC_URL = "dexa:publicUrl"
CONTEXT_SLACK_API_URL = "dexa:slackApiUrl"  # a Slack stand-in (tests); default https://slack.com/api
CONTEXT_GITHUB_API_URL = "dexa:githubApiUrl"  # GitHub Enterprise or a stand-in; default https://api.github.com
CONTEXT_GITHUB_URL = "dexa:githubUrl"  # where git clones from; default https://github.com
ENV_LINK_KEY_ARN = "DEXA_LINK_KEY_ARN"
ENV_SLACK_BOT_TOKEN_ARN = "DEXA_SLACK_BOT_TOKEN_ARN"
ENV_VAULT_KMS_KEY = "DEXA_VAULT_KMS_KEY"
ENV_MAIL_FROM = "DEXA_MAIL_FROM"
ENV_PUBLIC_URL = "DEXA_PUBLIC_URL"
ENV_PUBLIC_URL_PARAMETER = "DEXA_PUBLIC_URL_PARAMETER"


def public_url_parameter(prefix: str) -> str:
    return f"/{prefix.lower()}/public-url"


class ReviewSecrets(Construct):
    """In the data stack: the approval-link signing key (rotatable; the previous version keeps verifying), and the
    Slack bot token and GitHub token (set by the operator after deploy)."""

    def __init__(self, scope: Construct, ident: str) -> None:
        super().__init__(scope, ident)
        self.link_key = secretsmanager.Secret(
            self,
            "LinkKey",
            description="Dexa approval-link signing key (HMAC-SHA256); rotate by putting a new value",
            generate_secret_string=secretsmanager.SecretStringGenerator(
                password_length=64, exclude_punctuation=True, include_space=False
            ),
        )
        self.slack_bot_token = secretsmanager.Secret(
            self,
            "SlackBotToken",
            description='Slack bot token that posts approval requests: xoxb-... or {"bot_token", "api_url"}',
        )
        self.github_token = secretsmanager.Secret(
            self, "GithubToken", description="GitHub token for repos, the git proxy and pull requests (or use an App)"
        )


def publish_public_url(scope: Construct, *, prefix: str, url: str) -> ssm.StringParameter:
    """In the API stack: the URL approval links and session links point to."""
    value = scope.node.try_get_context(CONTEXT_PUBLIC_URL) or url
    return ssm.StringParameter(
        scope, "PublicUrl", parameter_name=public_url_parameter(prefix), string_value=value, description="Dexa API URL"
    )


def apply_review(fn: lambda_.Function, *, secrets: ReviewSecrets, data_key_arn: str, prefix: str) -> None:
    """Environment and least-privilege grants for the vault, link key, Slack token, SES and the public URL."""
    stack = cdk.Stack.of(fn)
    fn.add_environment(ENV_VAULT_KMS_KEY, data_key_arn)
    fn.add_environment(ENV_LINK_KEY_ARN, secrets.link_key.secret_arn)
    fn.add_environment(ENV_SLACK_BOT_TOKEN_ARN, secrets.slack_bot_token.secret_arn)
    fn.add_environment(ENV_PUBLIC_URL_PARAMETER, public_url_parameter(prefix))
    secrets.link_key.grant_read(fn)
    secrets.slack_bot_token.grant_read(fn)
    name = public_url_parameter(prefix).lstrip("/")
    fn.add_to_role_policy(
        iam.PolicyStatement(
            actions=["ssm:GetParameter"],
            resources=[stack.format_arn(service="ssm", resource="parameter", resource_name=name)],
        )
    )
    fn.add_environment("DEXA_GITHUB_TOKEN_ARN", secrets.github_token.secret_arn)
    secrets.github_token.grant_read(fn)
    for context, var in ((CONTEXT_GITHUB_API_URL, "DEXA_GITHUB_API_URL"), (CONTEXT_GITHUB_URL, "DEXA_GITHUB_URL")):
        value = fn.node.try_get_context(context)
        if value:
            fn.add_environment(var, str(value))
    slack_api_url = fn.node.try_get_context(CONTEXT_SLACK_API_URL)
    if slack_api_url:
        fn.add_environment("DEXA_SLACK_API_URL", str(slack_api_url))
    sender = fn.node.try_get_context(CONTEXT_MAIL_FROM)
    if sender:
        fn.add_environment(ENV_MAIL_FROM, sender)
        domain = str(sender).rsplit("@", 1)[-1]
        fn.add_to_role_policy(
            iam.PolicyStatement(
                actions=["ses:SendEmail"],
                resources=[
                    stack.format_arn(service="ses", resource="identity", resource_name=identity)
                    for identity in (sender, domain)
                ],
            )
        )


__all__ = ["ReviewSecrets", "apply_review", "public_url_parameter", "publish_public_url"]
