"""No cyclic garbage collection while a headless `dexa run` starts; what start-up built is frozen when it is done.

Start-up is mostly imports: ~52,000 objects (modules, classes, functions, the SDK's and pydantic's tables) made on
the way to the first model request, almost all of them kept until exit. The collector, triggered every 700
allocations, walks them again and again: 120 young, 11 middle and 1 full collection, 35-45 ms of CPU of the
~0.43 s before the first request (measured, load ~1), for nearly no garbage. So the collector is paused from the
start of the process until the run is about to submit its prompt, then everything alive is moved to the
permanent generation (`gc.freeze`, as a server does before it forks workers) and collection resumes: the turn's own
garbage is collected as before, and later collections no longer walk start-up's objects.

Only the `dexa` command's own process pauses (cli/main.py); the cost is start-up's few cyclic leftovers, kept
until exit. Every way a run goes (in-process, attached, --server, an error) resumes, and resuming twice is harmless.
"""

from __future__ import annotations

import gc

_paused: list[bool] = []


def pause() -> None:
    """Stop automatic collection, if it is on (a caller that turned it off keeps it off)."""
    if gc.isenabled() and not _paused:
        gc.disable()
        _paused.append(True)


def resume() -> None:
    """Freeze what is alive and collect automatically again; nothing if `pause` did not stop the collector."""
    if _paused:
        _paused.clear()
        gc.freeze()
        gc.enable()


__all__ = ["pause", "resume"]
