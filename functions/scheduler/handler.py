"""Scheduler Lambda: EventBridge Scheduler runs a saved automation (a new session and its first turn)."""

from dexa.cloud.lambdas import scheduler_handler

handler = scheduler_handler()
