"""Adapters: one sub-package per technology, each implementing ports from `dexa.core.ports`."""
