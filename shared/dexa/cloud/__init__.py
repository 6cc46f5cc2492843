"""Dexa in the cloud: the Lambda entry points (lambdas) and the event-stream server (stream), over dexa.wiring.

A surface beside api and cli: it may import wiring, the API and the runtime; adapters/aws may not.
"""

from dexa.core import codecache as _codecache
from dexa.core import regexcache as _regexcache

# Before anything below creates its dataclasses: their code comes compiled from the layer (layers/dexa/build.sh).
_codecache.install_layer()
# Likewise the programs of the regular expressions compiled at import, from the layer's table beside it, only read
# (a pattern missing from it is compiled, never written back).
if (_codecache.LAYER_TABLE.parent / _regexcache.FILE_NAME).is_file():
    _regexcache.install(_codecache.LAYER_TABLE.parent / _regexcache.FILE_NAME, save=False)
