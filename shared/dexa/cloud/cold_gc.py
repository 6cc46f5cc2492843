"""Next to no cyclic garbage collection while a Lambda container starts; what start-up built is frozen when it ends.

A cold API container imports FastAPI, pydantic, botocore and Dexa and builds its app and runtime: tens of thousands
of objects that live as long as the container. The collector, run every 700 net allocations, walks them over and
over (~170 young collections after the handler's import) for almost no garbage: measured on a cold authorizer call +
GET /sessions, collecting as usual cost ~45-70 ms of CPU more than not collecting. So start-up runs with a
young-generation threshold so high that it rarely collects, and when the container has answered its first API
request, everything alive moves to the permanent generation (`gc.freeze`) and the usual thresholds return: requests'
garbage is collected as before, and later collections no longer walk start-up's objects.

Why a threshold and not `gc.disable()`: a container may answer only authorizer calls for a while (they do not reach
the API handler that resumes); with the high threshold it still collects, just rarely. Same idea as dexa.cli's
startup_gc for `dexa run -p`.
"""

from __future__ import annotations

import gc

# Young collections at most every 200k net allocations: a few in a cold start instead of ~170.
STARTUP_THRESHOLD = 200_000

_saved: list[tuple[int, int, int]] = []


def pause() -> None:
    """Collect rarely until `resume` (once per process; a process with the collector off is left alone)."""
    if gc.isenabled() and not _saved:
        thresholds = gc.get_threshold()
        _saved.append(thresholds)
        gc.set_threshold(max(STARTUP_THRESHOLD, thresholds[0]), *thresholds[1:])


def resume() -> None:
    """Freeze what start-up built and collect as before; nothing unless `pause` raised the threshold."""
    if _saved:
        thresholds = _saved.pop()
        gc.freeze()
        gc.set_threshold(*thresholds)


def paused() -> bool:
    return bool(_saved)
