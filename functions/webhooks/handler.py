"""Webhooks Lambda: signed GitHub deliveries and Slack interactions (approval buttons), via API Gateway."""

from dexa.adapters.aws.lambda_entry import webhooks_handler

handler = webhooks_handler()
