"""Webhooks Lambda: signed GitHub deliveries and Slack interactions (approval buttons), via API Gateway."""

from dexa.cloud.lambdas import webhooks_handler

handler = webhooks_handler()
