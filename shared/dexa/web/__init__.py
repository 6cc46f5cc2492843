"""The web UI: an app shell and hand-written ES modules, served by the API's own FastAPI app.

Mount it with `create_app(runtime, extra_routers=[create_web_router()])` (or `app.include_router(...)`).
"""

from .handoff import HandoffCodes
from .router import create_web_router

__all__ = ["HandoffCodes", "create_web_router"]
