"""Dexa in the cloud: the Lambda entry points (lambdas) and the event-stream server (stream), over dexa.wiring.

A surface beside api and cli: it may import wiring, the API and the runtime; adapters/aws may not.
"""
