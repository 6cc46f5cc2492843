"""Reconciler Lambda: a turn whose execution failed, timed out or was aborted ends as an error (or a sweep)."""

from dexa.cloud.lambdas import reconciler_handler

handler = reconciler_handler()
