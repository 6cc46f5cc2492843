"""Dexa in the cloud: the Lambda entry points (lambdas) and the event-stream server (stream), over dexa.wiring.

A surface beside api and cli: it may import wiring, the API and the runtime; adapters/aws may not.
"""

from dexa.core import codecache as _codecache

# Before anything below creates its dataclasses: their code comes compiled from the layer (layers/dexa/build.sh).
_codecache.install_layer()
